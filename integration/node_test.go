package integration

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// nodeServer is one running Node.js MCP server from integration/ts.
type nodeServer struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  lines // stdout and stderr
	done sync.WaitGroup
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

// read collects the lines of r.
func (s *nodeServer) read(r io.Reader) {
	defer s.done.Done()
	s.out.collect(r)
}

// waitLine waits, up to 30 s, for an output line that contains every one of
// parts, seen before or after the call, and returns it.
func (s *nodeServer) waitLine(parts ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	line, err := s.out.wait(ctx, parts...)
	if err != nil {
		s.t.Fatalf("%s: %v:\n%s", s.name, err, s.output())
	}
	return line
}

// count returns how many output lines so far contain part.
func (s *nodeServer) count(part string) int { return s.out.count(part) }

// output returns every output line so far.
func (s *nodeServer) output() string { return s.out.String() }

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
