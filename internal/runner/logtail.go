package runner

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
)

const (
	// tailWindow is the most a poll reads of what was added to the log since
	// the last poll: the latest line is at the end, so a burst of output is
	// skipped rather than read.
	tailWindow = 64 << 10
	// maxLineBytes caps the latest line kept for progress messages.
	maxLineBytes = 256
)

// A logTail follows a log file that another process is writing and keeps the
// latest non-empty line. It reads only what was added since the last poll
// (at most tailWindow bytes of it), so following a large log costs little.
// The file need not exist yet. A logTail is not safe for concurrent use.
type logTail struct {
	path    string
	off     int64
	partial []byte // start of a line whose newline has not been written yet
	skip    bool   // partial is the unknown middle of a line: drop it at the next newline
	last    string
}

// newLogTail returns a logTail for the file at path.
func newLogTail(path string) *logTail {
	return &logTail{path: path}
}

// Poll reads what was added to the file and returns the latest complete
// non-empty line seen so far ("" if none). Lines holding only Stata's prompt
// (".") do not count. A file that shrank is read again from the start.
func (t *logTail) Poll() string {
	f, err := os.Open(t.path)
	if err != nil {
		return t.last
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return t.last
	}
	size := fi.Size()
	if size < t.off {
		t.off, t.partial, t.skip = 0, nil, false
	}
	if size-t.off > tailWindow {
		t.off = size - tailWindow
		t.partial, t.skip = nil, true
	}
	buf := make([]byte, size-t.off)
	n, err := f.ReadAt(buf, t.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return t.last
	}
	t.off += int64(n)
	t.feed(buf[:n])
	return t.last
}

// feed splits data into lines and remembers the latest non-empty one.
func (t *logTail) feed(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if !t.skip && len(t.partial) < maxLineBytes*4 {
				t.partial = append(t.partial, data[:min(len(data), maxLineBytes*4-len(t.partial))]...)
			}
			return
		}
		line := append(t.partial, data[:i]...)
		data = data[i+1:]
		skipped := t.skip
		t.partial, t.skip = nil, false
		if skipped {
			continue
		}
		if s := cleanLine(line); s != "" && s != "." {
			t.last = s
		}
	}
}

// cleanLine trims a log line for use as a progress message: no carriage
// return or surrounding space, valid UTF-8, at most maxLineBytes bytes.
func cleanLine(line []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(line), "\uFFFD"))
	if len(s) > maxLineBytes {
		cut := maxLineBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// logText is the part of a log that goes into a result.
type logText struct {
	Text      string // the log, or its head and tail with a marker between
	Size      int64  // the size of the whole log, in bytes
	Truncated bool   // whether a middle part was left out
}

// readLog reads the log at path for a result. A log longer than max bytes
// keeps its head and tail, each cut at a line boundary where there is one,
// and a marker in between says how much was left out and where the full log
// is. A missing log is an error satisfying errors.Is(err, fs.ErrNotExist).
func readLog(path string, max int64) (logText, error) {
	f, err := os.Open(path)
	if err != nil {
		return logText{}, fmt.Errorf("reading log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return logText{}, fmt.Errorf("reading log: %w", err)
	}
	size := fi.Size()
	if size <= max {
		b, err := io.ReadAll(io.LimitReader(f, max))
		if err != nil {
			return logText{}, fmt.Errorf("reading log: %w", err)
		}
		return logText{Text: strings.ToValidUTF8(string(b), "\uFFFD"), Size: int64(len(b))}, nil
	}
	headLen := max / 2
	tailLen := max - headLen
	head := make([]byte, headLen)
	if _, err := f.ReadAt(head, 0); err != nil {
		return logText{}, fmt.Errorf("reading log: %w", err)
	}
	tail := make([]byte, tailLen)
	if _, err := f.ReadAt(tail, size-tailLen); err != nil && !errors.Is(err, io.EOF) {
		return logText{}, fmt.Errorf("reading log: %w", err)
	}
	if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
		head = head[:i+1]
	} else {
		for len(head) > 0 && !utf8.RuneStart(head[len(head)-1]) {
			head = head[:len(head)-1]
		}
	}
	if i := bytes.IndexByte(tail, '\n'); i >= 0 {
		tail = tail[i+1:]
	} else {
		for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
			tail = tail[1:]
		}
	}
	omitted := size - int64(len(head)) - int64(len(tail))
	var b strings.Builder
	b.Write(head)
	fmt.Fprintf(&b, "\n[... %d bytes of the log left out here: the log has %d bytes, more than max_output (%d); the full log is %s ...]\n\n",
		omitted, size, max, path)
	b.Write(tail)
	return logText{Text: strings.ToValidUTF8(b.String(), "\uFFFD"), Size: size, Truncated: true}, nil
}

// isNotExist reports whether err says a file does not exist.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist)
}
