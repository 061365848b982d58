package redisstore

import (
	"bufio"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// startRedis starts a redis-server with no persistence on a free loopback
// port for the test, and returns its address. It skips the test when
// redis-server is not installed.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found on PATH: install it (Debian: apt-get install -y redis-server) to run the Redis store tests")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	l.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				close(ready)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("redis-server did not start")
	}
	return addr
}

// owner returns an owner for a session and credentials.
func owner(session, auth string) streams.Owner {
	h := http.Header{}
	h.Set("Mcp-Session-Id", session)
	h.Set("Authorization", auth)
	return streams.OwnerOf(h)
}

// newStore returns a Store on addr, closed with the test.
func newStore(t *testing.T, addr string) *Store {
	t.Helper()
	s, err := New(Config{Address: addr, Prefix: "test:"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
