package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// TestBatchHeldEndToEnd posts a 2025-03-26 batch of a slow tool call, a fast
// request and a notification through caddy-stata to the Go SDK's server, and
// gets both responses with their ids, with keep-alives in between.
func TestBatchHeldEndToEnd(t *testing.T) {
	eachMode(t, func(t *testing.T, up *upstream, c *caddy) {
		url := c.URL + "/mcp"
		session := rawInitializeVersion(t, url, "2025-03-26")
		req := rawRequest(context.Background(), t, url, session, `[`+
			`{"jsonrpc":"2.0","id":"slow-1","method":"tools/call","params":{"name":"sleep","arguments":{"ms":3500},"_meta":{"progressToken":"batch-token"}}},`+
			// Not an id past 2^53: the Go SDK's server rounds those
			// (it answers 9007199254740993 as 9007199254740992).
			`{"jsonrpc":"2.0","id":42,"method":"tools/list"},`+
			`{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}]`)
		req.Header.Set("MCP-Protocol-Version", "2025-03-26")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("the batch was not held: %d %s %s", resp.StatusCode, ct, body)
		}
		var progress int
		responses := map[string]string{}
		dec := sse.NewDecoder(0)
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			dec.Feed([]byte(line), func(ev sse.Event) {
				var msgs []json.RawMessage
				if strings.HasPrefix(ev.Data, "[") {
					json.Unmarshal([]byte(ev.Data), &msgs)
				} else {
					msgs = []json.RawMessage{json.RawMessage(ev.Data)}
				}
				for _, raw := range msgs {
					var m struct {
						ID     json.RawMessage `json:"id"`
						Method string          `json:"method"`
						Result json.RawMessage `json:"result"`
					}
					json.Unmarshal(raw, &m)
					switch {
					case m.Method == "notifications/progress":
						if len(responses) > 0 && responses[`"slow-1"`] != "" {
							t.Errorf("progress after the tool's response")
						}
						progress++
					case m.ID != nil:
						responses[string(m.ID)] = string(m.Result)
					}
				}
			})
			if err != nil {
				break
			}
		}
		if progress < 2 {
			t.Fatalf("%d progress notifications in 3.5 s at a 1 s interval", progress)
		}
		if !strings.Contains(responses[`"slow-1"`], "slept 3500 ms") || !strings.Contains(responses["42"], "sleep") || len(responses) != 2 {
			t.Fatalf("responses %v", responses)
		}
	})
}

// rawInitializeVersion opens an MCP session by hand at the given revision.
func rawInitializeVersion(t *testing.T, url, version string) string {
	t.Helper()
	req := rawRequest(context.Background(), t, url, "",
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+version+`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	req.Header.Del("MCP-Protocol-Version")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	session := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || session == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, session)
	}
	req = rawRequest(context.Background(), t, url, session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	req.Header.Set("MCP-Protocol-Version", version)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %d", resp.StatusCode)
	}
	return session
}
