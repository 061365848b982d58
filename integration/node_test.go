package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeServer is one running Node.js MCP server from integration/ts.
type nodeServer struct {
	t        *testing.T
	name     string
	cmd      *exec.Cmd
	mu       sync.Mutex
	lines    []string
	watchers []func(string)
	done     sync.WaitGroup
}

// startNode runs node with args in integration/ts, with env added to the
// test's environment, and collects its stdout and stderr lines.
func startNode(t *testing.T, name string, env []string, args ...string) *nodeServer {
	t.Helper()
	s := &nodeServer{t: t, name: name}
	s.cmd = exec.Command("node", args...)
	s.cmd.Dir = tsDir
	s.cmd.Env = append(os.Environ(), env...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done.Add(2)
	go s.read(stdout)
	go s.read(stderr)
	t.Cleanup(s.stop)
	return s
}

// read collects the lines of r and tells the watchers.
func (s *nodeServer) read(r io.Reader) {
	defer s.done.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.lines = append(s.lines, line)
		watchers := append([]func(string){}, s.watchers...)
		s.mu.Unlock()
		for _, w := range watchers {
			w(line)
		}
	}
}

// waitLine waits, up to 30 s, for an output line that contains every one of
// parts, seen before or after the call, and returns it.
func (s *nodeServer) waitLine(parts ...string) string {
	s.t.Helper()
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
	s.mu.Lock()
	s.watchers = append(s.watchers, match)
	for _, l := range s.lines {
		match(l)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case l := <-found:
		return l
	case <-ctx.Done():
		s.t.Fatalf("%s printed no line with %q:\n%s", s.name, parts, s.output())
		return ""
	}
}

// count returns how many output lines so far contain part.
func (s *nodeServer) count(part string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		if strings.Contains(l, part) {
			n++
		}
	}
	return n
}

func (s *nodeServer) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// stop ends the process and shows its output if the test failed.
func (s *nodeServer) stop() {
	_ = s.cmd.Process.Kill()
	s.done.Wait()
	_ = s.cmd.Wait()
	if s.t.Failed() {
		s.t.Logf("%s output:\n%s", s.name, s.output())
	}
}

// startEverything runs @modelcontextprotocol/server-everything over
// Streamable HTTP on a free port and returns its host:port.
func startEverything(t *testing.T) string {
	t.Helper()
	port := freePort(t)
	s := startNode(t, "server-everything", []string{fmt.Sprintf("PORT=%d", port)},
		filepath.Join("node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js"), "streamableHttp")
	s.waitLine(fmt.Sprintf("listening on port %d", port))
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// proxySites are the two ways the tests put mcp_keepalive in front of a real
// server: its defaults (a call is held after 1 s), and grace 0 (every call
// is held at once).
var proxySites = []struct{ name, body string }{
	{"default grace", `
	mcp_keepalive
	reverse_proxy {upstream} {
		header_up Host {upstream_hostport}
	}`},
	{"grace 0", `
	mcp_keepalive {
		grace 0
	}
	reverse_proxy {upstream} {
		header_up Host {upstream_hostport}
	}`},
}
