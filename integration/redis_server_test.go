package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// startRedis starts a redis-server with no persistence on a free loopback
// port, stopped with the test; it skips the test when redis-server is not
// installed (.ci/run installs Debian's package).
func startRedis(t *testing.T) *redistest.Server { return redistest.Start(t) }

// waitKey waits until key exists in the Redis at addr.
func waitKey(ctx context.Context, t *testing.T, addr, key string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
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
func twoInstances(t *testing.T, redis *redistest.Server, upstream, pollAfter string) (a, b *caddy) {
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
