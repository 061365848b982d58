package redisstore

import (
	"net/http"
	"testing"

	"github.com/caddy-stata/caddy-stata/internal/redistest"
	"github.com/caddy-stata/caddy-stata/internal/streams"
	"go.uber.org/goleak"
)

// startRedis starts a redis-server for the test and returns its address.
func startRedis(t *testing.T) string {
	t.Helper()
	return redistest.Start(t).Addr
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

func TestMain(m *testing.M) {
	// After failed dials, the client retries in the background for up to a
	// second after Close.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
