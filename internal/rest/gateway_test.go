package rest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestEndpoints(t *testing.T) {
	u := newTestUpstream(t)
	_, url := newTestGateway(t, u, Config{MaxRequestBody: 256})
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string // the JSON error's code
		contains                 string
	}{
		{"tools", "GET", "/tools", "", 200, "", `"name":"echo"`},
		{"openapi", "GET", "/openapi.json", "", 200, "", `"openapi":"3.1.0"`},
		{"call", "POST", "/tools/echo", `{"arguments":{"text":"hi"}}`, 200, "", `"content":[{"type":"text","text":"hi"}],"isError":false`},
		{"empty body is no arguments", "POST", "/tools/wait", ``, 400, codeInvalidArguments, `missing properties`},
		{"bad json", "POST", "/tools/echo", `{"arguments":`, 400, codeBadRequest, ""},
		{"bare arguments", "POST", "/tools/echo", `{"text":"hi"}`, 400, codeBadRequest, ""},
		{"two values", "POST", "/tools/echo", `{} {}`, 400, codeBadRequest, ""},
		{"arguments not an object", "POST", "/tools/echo", `{"arguments":[1]}`, 400, codeBadRequest, ""},
		{"invalid arguments", "POST", "/tools/echo", `{"arguments":{"text":5}}`, 400, codeInvalidArguments, ""},
		{"unknown tool", "POST", "/tools/nope", `{}`, 404, codeUnknownTool, ""},
		{"unknown tool stream", "POST", "/tools/nope/stream", `{}`, 404, codeUnknownTool, ""},
		{"unknown tool socket", "GET", "/ws/tools/nope", "", 404, codeUnknownTool, ""},
		{"too large", "POST", "/tools/echo", `{"arguments":{"text":"` + strings.Repeat("x", 300) + `"}}`, 413, codeTooLarge, ""},
		{"wrong method", "GET", "/tools/echo", "", 405, codeMethod, ""},
		{"no such endpoint", "GET", "/nothing", "", 404, codeNotFound, ""},
		{"health", "GET", "/health", "", 200, "", `"upstream":"ok"`},
		{"stats", "GET", "/stats", "", 200, "", `"upstream":{"sessions":1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, tt.method, url+tt.path, tt.body)
			if a.status != tt.status || a.errorCode() != tt.code || !strings.Contains(a.body, tt.contains) {
				t.Fatalf("%s %s: %d %s; want %d, code %q, containing %s", tt.method, tt.path, a.status, a.body, tt.status, tt.code, tt.contains)
			}
			if !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
				t.Fatalf("Content-Type %q", a.header.Get("Content-Type"))
			}
		})
	}
	if a := do(t, "GET", url+"/tools/echo", ""); a.header.Get("Allow") != "POST" {
		t.Fatalf("405 without Allow: POST: %v", a.header)
	}
}

func TestStripPrefix(t *testing.T) {
	u := newTestUpstream(t)
	_, url := newTestGateway(t, u, Config{StripPrefix: "/api/"})
	if a := do(t, "POST", url+"/api/tools/echo", `{"arguments":{"text":"x"}}`); a.status != 200 {
		t.Fatalf("under the prefix: %d %s", a.status, a.body)
	}
	for _, path := range []string{"/tools", "/apitools", "/other/tools"} {
		if a := do(t, "GET", url+path, ""); a.status != 404 {
			t.Fatalf("%s: %d, want 404", path, a.status)
		}
	}
	a := do(t, "GET", url+"/api/openapi.json", "")
	servers, _ := a.json["servers"].([]any)
	if len(servers) != 1 || servers[0].(map[string]any)["url"] != "/api" {
		t.Fatalf("servers of the document: %v", a.json["servers"])
	}
}

func TestSessionsReusedAndRecreated(t *testing.T) {
	u := newTestUpstream(t)
	g, url := newTestGateway(t, u, Config{})
	for i := 0; i < 3; i++ {
		if a := do(t, "POST", url+"/tools/echo", `{"arguments":{"text":"x"}}`); a.status != 200 {
			t.Fatalf("call %d: %d %s", i, a.status, a.body)
		}
	}
	if ps := g.pool.stats(); ps.Opened != 1 || ps.Sessions != 1 {
		t.Fatalf("three calls one after another opened %d sessions", ps.Opened)
	}
	u.restart()
	if a := do(t, "POST", url+"/tools/echo", `{"arguments":{"text":"after"}}`); a.status != 200 || !strings.Contains(a.body, "after") {
		t.Fatalf("after the restart: %d %s", a.status, a.body)
	}
	if ps := g.pool.stats(); ps.Opened != 2 || ps.Dropped != 1 || ps.Sessions != 1 {
		t.Fatalf("after the restart: %+v", ps)
	}
}

func TestUpstreamDown(t *testing.T) {
	g, err := New(Config{Upstream: "http://127.0.0.1:1/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, tt := range []struct {
		method, path string
		status       int
	}{{"GET", "/health", 503}, {"GET", "/tools", 502}, {"POST", "/tools/echo", 502}} {
		w := newRecorder()
		r, _ := http.NewRequest(tt.method, tt.path, strings.NewReader("{}"))
		g.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Fatalf("%s %s: %d %s", tt.method, tt.path, w.Code, w.Body)
		}
	}
}

func TestCancelReachesUpstream(t *testing.T) {
	u := newTestUpstream(t)
	g, _ := newTestGateway(t, u, Config{})
	info, err := g.lookup(context.Background(), "wait")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := g.run(ctx, &call{tool: info, args: map[string]any{"ms": 0, "tag": "c"}, start: time.Now()})
		done <- err
	}()
	select {
	case <-u.started:
	case err := <-done:
		t.Fatalf("the call ended before it started upstream: %v", err)
	}
	cancel()
	if err := <-done; err.(*apiError).Code != codeCancelled {
		t.Fatalf("the call ended with %v", err)
	}
	u.waitMethod(t, "notifications/cancelled")
	if got := g.stats.snapshot().Calls["wait"][outcomeCancelled]; got != 1 {
		t.Fatalf("stats counted %d cancelled calls", got)
	}
}

func TestTimeout(t *testing.T) {
	u := newTestUpstream(t)
	_, url := newTestGateway(t, u, Config{Timeout: 200 * time.Millisecond})
	a := do(t, "POST", url+"/tools/wait", `{"arguments":{"ms":0}}`)
	if a.status != http.StatusGatewayTimeout || a.errorCode() != codeTimeout {
		t.Fatalf("%d %s", a.status, a.body)
	}
	u.waitMethod(t, "notifications/cancelled")
}
