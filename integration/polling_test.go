package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startPollingServer runs integration/ts/polling-server.mjs, an upstream on
// the TypeScript SDK that closes a call's event stream for polling (SEP-1699)
// and answers on the client's GET with Last-Event-ID. It returns the server
// and its host:port.
func startPollingServer(t *testing.T) (*nodeServer, string) {
	t.Helper()
	s := startNode(t, "polling-server.mjs", nil, filepath.Join(tsDir, "polling-server.mjs"))
	var ready struct {
		Port int `json:"port"`
	}
	if err := json.Unmarshal([]byte(s.waitLine(`"event":"listening"`)), &ready); err != nil || ready.Port == 0 {
		t.Fatalf("polling-server.mjs: no port: %v", err)
	}
	return s, fmt.Sprintf("127.0.0.1:%d", ready.Port)
}

// TestPollingUpstream calls a tool of an upstream that closes the call's
// stream for polling after its first progress, and answers 1 s later on
// the GET with Last-Event-ID that follows. Straight, the client itself comes
// back. Through mcp_keepalive (default grace) with the stream closed after
// the grace period, the call is held and the handler comes back; with the
// stream closed at once, the handler passes the upstream's whole answer
// through and the client comes back through reverse_proxy. Both SDK clients
// get the result and the progress sent on either side of the gap each time.
func TestPollingUpstream(t *testing.T) {
	server, upstream := startPollingServer(t)
	// The default grace; keep-alives every second, under the clients'
	// 2 s body timers, while the held call waits.
	c := startCaddy(t, upstream, `
	mcp_keepalive {
		interval 1s
	}
	reverse_proxy {upstream} {
		header_up Host {upstream_hostport}
	}`)
	held := 0
	for _, via := range []struct {
		name, url    string
		closeAfterMs int
		held         bool
	}{
		{"straight", "http://" + upstream + "/mcp", 1200, false},
		{"held by mcp_keepalive", c.URL + "/mcp", 1200, true},
		{"within grace through mcp_keepalive", c.URL + "/mcp", 0, false},
	} {
		args := map[string]any{"closeAfterMs": via.closeAfterMs, "delayMs": 1000}
		for _, client := range []struct {
			name string
			call func(url string) callOutcome
			// all: the client has run its progress handler for every
			// notification that came before the result when the call
			// returns. The Go SDK queues notifications for a handler
			// goroutine but hands the response to the caller at once, so
			// the progress sent just before the result may come later.
			all bool
		}{
			{"typescript sdk", func(url string) callOutcome { return tsCall(t, url, "poll", args, nil) }, true},
			{"go sdk", func(url string) callOutcome { return goCall(t, url, "poll", args) }, false},
		} {
			// One at a time, so that the counts of the server's
			// resumptions and the handler's held calls belong to this call.
			t.Run(via.name+"/"+client.name, func(t *testing.T) {
				closed, resumed := server.count(`"event":"closed"`), server.count(`"event":"resumed"`)
				o := client.call(via.url)
				if !o.OK || o.IsError || o.Text != "polled result after 1000ms" {
					t.Fatalf("call failed after %v: %s %q", o.Elapsed, o.Err, o.Text)
				}
				if server.count(`"event":"closed"`) != closed+1 || server.count(`"event":"resumed"`) <= resumed {
					t.Fatalf("the server did not close the stream for polling and get a GET with Last-Event-ID:\n%s", server.output())
				}
				t.Logf("progress: %s", progressString(o.Progress))
				var messages []string
				for _, p := range o.Progress {
					if p.Message != nil && strings.HasSuffix(*p.Message, " polling") {
						messages = append(messages, *p.Message)
					}
				}
				want := []string{"before polling", "after polling"}
				if !client.all && len(messages) == 1 {
					want = want[:1]
				}
				if strings.Join(messages, ", ") != strings.Join(want, ", ") {
					t.Fatalf("the server's progress arrived as %q, want %q", messages, want)
				}
				if via.held {
					held++
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := c.waitLogs(ctx, held, "held call finished", `"outcome":"response"`); err != nil {
					t.Fatalf("the call was not held: %v", err)
				}
				if n := strings.Count(c.Logs(), `"held call finished"`); n != held {
					t.Fatalf("%d held calls finished, want %d", n, held)
				}
			})
		}
	}
}

// waitLogs waits until n log lines contain every one of parts.
func (c *caddy) waitLogs(ctx context.Context, n int, parts ...string) error {
	seen := make(chan struct{}, 1)
	c.watch(func(string) {
		select {
		case seen <- struct{}{}:
		default:
		}
	})
	for {
		got := 0
		for _, line := range strings.Split(c.Logs(), "\n") {
			if containsAll(line, parts) {
				got++
			}
		}
		if got >= n {
			return nil
		}
		select {
		case <-seen:
		case <-ctx.Done():
			return fmt.Errorf("%d log lines with %q, want %d: %w", got, parts, n, ctx.Err())
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
