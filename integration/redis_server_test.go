package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server the test started, with no persistence.
type redisServer struct {
	Addr string
	cmd  *exec.Cmd
	out  lines
	done chan struct{}
}

// startRedis starts a redis-server on a free loopback port, with no
// persistence, stopped with the test. It skips the test when redis-server
// is not installed (.ci/run installs Debian's package).
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	return startRedisAt(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
}

// startRedisAt is startRedis on the loopback address addr.
func startRedisAt(t *testing.T, addr string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found on PATH: install it (Debian: apt-get install -y redis-server) to run the Redis store tests")
	}
	r := &redisServer{Addr: addr, done: make(chan struct{})}
	port := r.Addr[strings.LastIndex(r.Addr, ":")+1:]
	r.cmd = exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--logfile", "")
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		r.out.collect(stdout)
	}()
	t.Cleanup(r.kill)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.out.wait(ctx, "Ready to accept connections"); err != nil {
		t.Fatalf("redis-server did not start: %v\n%s", err, r.out.String())
	}
	return r
}

// waitKey waits until key exists in Redis.
func (r *redisServer) waitKey(ctx context.Context, t *testing.T, key string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	for {
		n, err := rdb.Exists(ctx, key).Result()
		if err == nil && n == 1 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no key %s in Redis: %v", key, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// kill stops the server at once, as a crash would.
func (r *redisServer) kill() {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	_ = r.cmd.Wait()
	<-r.done
}

// startExampleFile runs caddy-stata with the Caddyfile examples/name, whose
// {$NAME} placeholders are read from env, and waits until it serves. The
// front site is at http://127.0.0.1:$PORT and the admin API at
// localhost:$ADMIN_PORT.
func startExampleFile(t *testing.T, name string, env map[string]string) *caddy {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	c := startCaddyfile(t, string(cfg), "http://127.0.0.1:"+env["PORT"], "localhost:"+env["ADMIN_PORT"])
	for k := range env {
		// startCaddyfile passed them on; the next instance sets its own.
		os.Unsetenv(k)
	}
	return c
}

// twoInstances starts instances A and B from examples/instance-a.Caddyfile
// and examples/instance-b.Caddyfile, in front of upstream, sharing Redis,
// with keep-alives every second (the clients' timers are 2 s) and the
// given poll_after.
func twoInstances(t *testing.T, redis *redisServer, upstream, pollAfter string) (a, b *caddy) {
	t.Helper()
	start := func(name string) *caddy {
		return startExampleFile(t, name, map[string]string{
			"PORT": fmt.Sprint(freePort(t)), "ADMIN_PORT": fmt.Sprint(freePort(t)),
			"INTERVAL": "1s", "POLL_AFTER": pollAfter,
			"REDIS_ADDRESS": redis.Addr, "MCP_UPSTREAM": upstream,
		})
	}
	return start("instance-a.Caddyfile"), start("instance-b.Caddyfile")
}

// balancer starts examples/balancer.Caddyfile in front of a and b.
func balancer(t *testing.T, a, b *caddy) *caddy {
	t.Helper()
	return startExampleFile(t, "balancer.Caddyfile", map[string]string{
		"PORT": fmt.Sprint(freePort(t)), "ADMIN_PORT": fmt.Sprint(freePort(t)),
		"INSTANCE_A": strings.TrimPrefix(a.URL, "http://"), "INSTANCE_B": strings.TrimPrefix(b.URL, "http://"),
	})
}
