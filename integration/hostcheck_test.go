package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// startExample runs ../Caddyfile.example itself, the Caddyfile the README
// recommends, with only its ports, its admin address and its Stata changed:
// stata_runner with the stand-in, and mcp_keepalive with reverse_proxy and
// header_up Host {upstream_hostport} in front of it. It returns the running
// process and the front door's port.
func startExample(t *testing.T) (*caddy, int) {
	t.Helper()
	b, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	front, runner, admin := freePort(t), freePort(t), freePort(t)
	cfg := string(b)
	// The line whose safety this test is about.
	if !strings.Contains(cfg, "header_up Host {upstream_hostport}") {
		t.Fatal("Caddyfile.example no longer sends the upstream its own Host")
	}
	for _, r := range []struct{ old, new string }{
		{"admin localhost:2019", fmt.Sprintf("admin 127.0.0.1:%d\n\tpersist_config off", admin)},
		{"localhost:4000", fmt.Sprintf("localhost:%d", runner)},
		{"http://:8080 {", fmt.Sprintf("http://:%d {", front)},
		{"stata bin/stata-standin", "stata " + standin},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("Caddyfile.example has no %q; update this test with it", r.old)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	return startCaddyfile(t, cfg, fmt.Sprintf("http://127.0.0.1:%d", front), fmt.Sprintf("127.0.0.1:%d", admin)), front
}

// TestDNSRebindingRefused sends what a page of evil.example.com sends once
// its name resolves to 127.0.0.1, through the README's Caddyfile: 403 with a
// JSON-RPC error, while the SDK clients on localhost keep working. Without
// the check, header_up Host would hide the evil Host from the upstream.
func TestDNSRebindingRefused(t *testing.T) {
	c, port := startExample(t)
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",` +
		`"capabilities":{},"clientInfo":{"name":"evil","version":"1"}}}`
	for _, tt := range []struct {
		name, host, origin, want string
	}{
		{"rebound name", "evil.example.com", "http://evil.example.com", `host "evil.example.com" is not allowed`},
		{"rebound name with port", fmt.Sprintf("evil.example.com:%d", port), fmt.Sprintf("http://evil.example.com:%d", port),
			`host "evil.example.com:`},
		{"cross-site page on localhost", fmt.Sprintf("localhost:%d", port), "http://evil.example.com",
			`origin "http://evil.example.com" is not allowed`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req := rawRequest(ctx, t, c.URL+"/mcp", "", initialize)
			req.Host = tt.host
			req.Header.Set("Origin", tt.origin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json: %s", ct, body)
			}
			var msg struct {
				JSONRPC string          `json:"jsonrpc"`
				ID      json.RawMessage `json:"id"`
				Result  json.RawMessage `json:"result"`
				Error   *struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &msg); err != nil {
				t.Fatalf("body is not JSON-RPC: %v: %s", err, body)
			}
			if msg.JSONRPC != "2.0" || string(msg.ID) != "null" || msg.Result != nil || msg.Error == nil ||
				msg.Error.Code != -32600 || !strings.Contains(msg.Error.Message, tt.want) {
				t.Fatalf("body %s, want a JSON-RPC error containing %q", body, tt.want)
			}
			if _, err := c.waitLog(ctx, "request refused: host or origin not allowed", tt.host, tt.origin); err != nil {
				t.Fatal(err)
			}
		})
	}

	// The SDK clients, on every loopback name, still complete a call.
	code := map[string]any{"code": "display \"hello from localhost\""}
	for _, url := range []string{
		fmt.Sprintf("http://localhost:%d/mcp", port),
		fmt.Sprintf("http://127.0.0.1:%d/mcp", port),
		fmt.Sprintf("http://[::1]:%d/mcp", port),
	} {
		for name, call := range map[string]func() callOutcome{
			"go sdk":         func() callOutcome { return goCall(t, url, "stata_run_selection", code) },
			"typescript sdk": func() callOutcome { return tsCall(t, url, "stata_run_selection", code, nil) },
		} {
			t.Run(name+" "+url, func(t *testing.T) {
				o := call()
				if !o.OK || o.IsError || !strings.Contains(o.Text, "hello from localhost") {
					t.Fatalf("call failed: %s\n%s", o.Err, o.Text)
				}
			})
		}
	}
}
