package integration

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEverythingProgress calls the long-running tool of
// @modelcontextprotocol/server-everything (progress 1/5 to 5/5, one a
// second, then the result) with the TypeScript SDK client: straight at the
// server as the reference, then through mcp_keepalive with grace 0 and with
// the default grace. Every one of the server's five progress notifications
// reaches the client, in order, before the result, and none comes after
// it: the SDK drops progress for a request it has already resolved, so five
// of five means all came first.
func TestEverythingProgress(t *testing.T) {
	everything := startEverything(t)
	urls := map[string]string{"straight": "http://" + everything + "/mcp"}
	fronts := map[string]*caddy{}
	for _, site := range proxySites {
		c := startCaddy(t, everything, site.body)
		urls[site.name] = c.URL + "/mcp"
		fronts[site.name] = c
	}
	const tool = "trigger-long-running-operation"
	args := map[string]any{"duration": 5, "steps": 5}
	for _, name := range []string{"straight", "grace 0", "default grace"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := tsCall(t, urls[name], tool, args, nil)
			if !o.OK || o.IsError || !strings.Contains(o.Text, "Long running operation completed") {
				t.Fatalf("call failed after %v: %s %s", o.Elapsed, o.Err, o.Text)
			}
			t.Logf("progress: %s", progressString(o.Progress))
			assertIncreasing(t, o.Progress, 5)
			// The server's own notifications have no message; the
			// handler's keep-alives name the tool.
			var server []progressEvent
			for _, p := range o.Progress {
				switch {
				case p.Message == nil:
					server = append(server, p)
				case !strings.HasPrefix(*p.Message, tool+": running for "):
					t.Fatalf("progress with an unexpected message %q", *p.Message)
				}
			}
			if len(server) != 5 {
				t.Fatalf("%d of the server's 5 progress notifications arrived", len(server))
			}
			if last := o.Progress[len(o.Progress)-1]; last.Message != nil {
				t.Fatalf("the last progress before the result is a keep-alive (%q), not the server's 5/5", *last.Message)
			}
			// A shift keeps progress above an invented value; it moves
			// total with it and stays the same for every later value.
			shift := server[0].Progress - 1
			for i, p := range server {
				if p.Total == nil {
					t.Fatalf("progress %d has no total", i+1)
				}
				if p.Progress != float64(i+1)+shift || *p.Total != 5+shift {
					t.Fatalf("progress %d arrived as %v/%v; want %v/%v (the server's value shifted by %v)",
						i+1, p.Progress, *p.Total, float64(i+1)+shift, 5+shift, shift)
				}
			}
			if name == "straight" && shift != 0 {
				t.Fatalf("straight at the server, progress is shifted by %v", shift)
			}
			if c := fronts[name]; c != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := c.waitLog(ctx, "held call finished", `"outcome":"response"`); err != nil {
					t.Fatalf("the call was not held: %v", err)
				}
			}
		})
	}
}

// progressString renders progress notifications as "1/5 2/5 3/5(msg)".
func progressString(ps []progressEvent) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatFloat(p.Progress, 'g', -1, 64))
		if p.Total != nil {
			b.WriteString("/" + strconv.FormatFloat(*p.Total, 'g', -1, 64))
		}
		if p.Message != nil {
			b.WriteString("(" + *p.Message + ")")
		}
	}
	return b.String()
}
