// Package redistest starts a real redis-server for tests: no persistence, a
// free loopback port, stopped with the test. A test skips, saying why, when
// redis-server is not installed (Debian: apt-get install -y redis-server).
package redistest

import (
	"bufio"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	// Addr is its host:port.
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts a redis-server on a free loopback port.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return StartAt(t, addr)
}

// StartAt starts a redis-server on the loopback address addr, as a Redis
// that comes back after a crash does.
func StartAt(t testing.TB, addr string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found on PATH: install it (Debian: apt-get install -y redis-server) to run the Redis store tests")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: addr, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "--port", port, "--bind", host, "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--logfile", "")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	ready := make(chan struct{})
	var log strings.Builder // written until ready, read after done
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(out)
		started := false
		for sc.Scan() {
			if !started {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "Ready to accept connections") {
					started = true
					close(ready)
				}
			}
		}
	}()
	select {
	case <-ready:
	case <-s.done:
		_ = s.cmd.Wait()
		t.Fatalf("redis-server exited at start:\n%s", log.String())
	case <-time.After(30 * time.Second):
		s.Kill()
		t.Fatalf("redis-server did not start within 30s")
	}
	return s
}

// Kill stops the server at once, as a crash would; it may be called more
// than once.
func (s *Server) Kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	<-s.done
}
