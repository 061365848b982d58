package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// lines collects the output lines of a process the tests run, and tells
// watchers of each. It is safe for concurrent use.
type lines struct {
	mu       sync.Mutex
	all      []string
	watchers []func(string)
}

// collect reads r line by line to its end.
func (l *lines) collect(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		l.mu.Lock()
		l.all = append(l.all, line)
		watchers := append([]func(string){}, l.watchers...)
		l.mu.Unlock()
		for _, w := range watchers {
			w(line)
		}
	}
}

// watch calls fn for every later line.
func (l *lines) watch(fn func(string)) {
	l.mu.Lock()
	l.watchers = append(l.watchers, fn)
	l.mu.Unlock()
}

// wait waits for a line that contains every one of parts, seen before or
// after the call.
func (l *lines) wait(ctx context.Context, parts ...string) (string, error) {
	found := make(chan string, 1)
	match := func(line string) {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				return
			}
		}
		select {
		case found <- line:
		default:
		}
	}
	l.mu.Lock()
	l.watchers = append(l.watchers, match)
	for _, line := range l.all {
		match(line)
	}
	l.mu.Unlock()
	select {
	case line := <-found:
		return line, nil
	case <-ctx.Done():
		return "", fmt.Errorf("no line with %q: %w", parts, ctx.Err())
	}
}

// count returns how many lines so far contain every one of parts.
func (l *lines) count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.all {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// String returns every line so far.
func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}
