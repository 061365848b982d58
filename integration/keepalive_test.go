package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// modes are the two kinds of upstream: one that buffers its answer until the
// tool is done (as fastapi_mcp does) and one that streams.
var modes = []struct {
	name string
	json bool
}{{"json upstream", true}, {"sse upstream", false}}

// eachMode runs test once for each kind of upstream, in parallel, with its
// own upstream and caddy-stata in front of it (keepAliveSite).
func eachMode(t *testing.T, test func(t *testing.T, up *upstream, c *caddy)) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t, mode.json)
			test(t, up, startCaddy(t, up.HostPort, keepAliveSite))
		})
	}
}

// TestLongCallSurvivesClientTimers is the product's promise: a tool call that
// runs far longer than every timer of the client fails straight at the
// upstream and succeeds through caddy-stata, with strictly increasing
// progress, for both SDK clients and both kinds of upstream.
func TestLongCallSurvivesClientTimers(t *testing.T) {
	eachMode(t, func(t *testing.T, up *upstream, c *caddy) {
		args := map[string]any{"ms": longCall}
		want := fmt.Sprintf("slept %d ms", longCall)
		clients := []struct {
			name string
			call func(t *testing.T, url string) callOutcome
		}{
			{"typescript sdk", func(t *testing.T, url string) callOutcome { return tsCall(t, url, "sleep", args, nil) }},
			{"go sdk", func(t *testing.T, url string) callOutcome { return goCall(t, url, "sleep", args) }},
		}
		for _, cl := range clients {
			t.Run(cl.name+" direct fails", func(t *testing.T) {
				t.Parallel()
				if o := cl.call(t, up.URL); o.OK {
					t.Fatalf("the call succeeded straight at the upstream (%v); the test's timers prove nothing", o.Elapsed)
				} else {
					t.Logf("direct: failed after %v: %s", o.Elapsed, o.Err)
				}
			})
			t.Run(cl.name+" through caddy-stata succeeds", func(t *testing.T) {
				t.Parallel()
				o := cl.call(t, c.URL+"/mcp")
				if !o.OK || o.IsError || o.Text != want {
					t.Fatalf("call failed after %v: %s (result %q)", o.Elapsed, o.Err, o.Text)
				}
				assertIncreasing(t, o.Progress, 5)
				if m := o.Progress[0].Message; m == nil || !strings.Contains(*m, "sleep") {
					t.Fatalf("progress message %v does not name the tool", m)
				}
			})
		}
	})
}

// TestUpstreamProgressRelayed checks that an upstream's own progress reaches
// the client through caddy-stata, still strictly increasing.
func TestUpstreamProgressRelayed(t *testing.T) {
	up := startUpstream(t, false)
	c := startCaddy(t, up.HostPort, keepAliveSite)
	o := tsCall(t, c.URL+"/mcp", "progress_sleep", map[string]any{"ms": 4000}, nil)
	if !o.OK || o.Text != "done with progress" {
		t.Fatalf("call failed after %v: %s", o.Elapsed, o.Err)
	}
	assertIncreasing(t, o.Progress, 5)
	var own int
	for _, p := range o.Progress {
		if p.Message != nil && strings.HasPrefix(*p.Message, "upstream step") {
			own++
		}
	}
	if own < 5 {
		t.Fatalf("%d of the upstream's own progress notifications arrived: %+v", own, o.Progress)
	}
}

// TestUpstreamFailureEndsCall checks that an upstream that dies mid-call or
// answers 500 gives the client a JSON-RPC error for its call within seconds,
// never a hang, and that caddy-stata keeps serving.
func TestUpstreamFailureEndsCall(t *testing.T) {
	eachMode(t, func(t *testing.T, up *upstream, c *caddy) {
		for _, tc := range []struct{ tool, cause string }{
			{"die", "mcp_keepalive: the upstream"},
			{"fail500", "500 Internal Server Error"},
		} {
			t.Run(tc.tool, func(t *testing.T) {
				t.Parallel()
				for name, call := range map[string]func() callOutcome{
					"go sdk":         func() callOutcome { return goCall(t, c.URL+"/mcp", tc.tool, map[string]any{"ms": 1500}) },
					"typescript sdk": func() callOutcome { return tsCall(t, c.URL+"/mcp", tc.tool, map[string]any{"ms": 1500}, nil) },
				} {
					o := call()
					if o.OK || !strings.Contains(o.Err, tc.cause) {
						t.Fatalf("%s: got ok=%v err=%q, want an error naming %q", name, o.OK, o.Err, tc.cause)
					}
					if o.Elapsed > 6*time.Second {
						t.Fatalf("%s: the error took %v", name, o.Elapsed)
					}
				}
			})
		}
		t.Run("still serving", func(t *testing.T) {
			t.Parallel()
			if o := goCall(t, c.URL+"/mcp", "sleep", map[string]any{"ms": 1200}); !o.OK {
				t.Fatalf("a later call failed: %s", o.Err)
			}
		})
	})
}

// TestClientDisconnectDoesNotCancel checks that a client that drops a held
// call does not cancel it: the upstream's tool runs to its end, and the
// outcome is logged.
func TestClientDisconnectDoesNotCancel(t *testing.T) {
	eachMode(t, func(t *testing.T, up *upstream, c *caddy) {
		session := rawInitialize(t, c.URL+"/mcp")

		ctx, cancel := context.WithCancel(context.Background())
		req := rawRequest(ctx, t, c.URL+"/mcp", session,
			`{"jsonrpc":"2.0","id":"drop-me","method":"tools/call","params":{"name":"sleep","arguments":{"ms":3000,"tag":"dropped"}}}`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("not held: %s", ct)
		}
		if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		cancel()
		resp.Body.Close()

		select {
		case end := <-up.ends:
			if end.Tag != "dropped" || end.Err != nil {
				t.Fatalf("the upstream's tool ended with %v", end.Err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the upstream's tool did not end")
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		if _, err := c.waitLog(wctx, "held call finished", `"client_gone":true`, `"outcome":"response"`); err != nil {
			t.Fatal(err)
		}
	})
}

// rawInitialize opens an MCP session by hand and returns its id.
func rawInitialize(t *testing.T, url string) string {
	t.Helper()
	return rawInitializeVersion(t, url, "2025-06-18")
}

// rawRequest builds a POST as an MCP client sends it.
func rawRequest(ctx context.Context, t *testing.T, url, session, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	return req
}
