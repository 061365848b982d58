package rest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testUpstream is a Go SDK MCP server on httptest whose handler can be
// replaced by a new one, which forgets every session as a restarted server
// does.
type testUpstream struct {
	URL     string
	methods chan string // every method the server received
	started chan string // the tag of every wait call as it starts

	mu      sync.Mutex
	handler http.Handler
}

// waitArgs are the arguments of the wait tool.
type waitArgs struct {
	Ms    int    `json:"ms" jsonschema:"how long to run, in milliseconds; 0 runs until cancelled"`
	Steps int    `json:"steps,omitempty" jsonschema:"progress notifications to send"`
	Tag   string `json:"tag,omitempty"`
}

// newTestUpstream starts the server with the tools echo (a required string
// argument) and wait.
func newTestUpstream(t *testing.T) *testUpstream {
	t.Helper()
	u := &testUpstream{methods: make(chan string, 256), started: make(chan string, 16)}
	u.restart()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		h := u.handler
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

// restart replaces the server by a new one with no sessions.
func (u *testUpstream) restart() {
	server := mcp.NewServer(&mcp.Implementation{Name: "test-upstream", Version: "1.0.0"}, nil)
	type echoArgs struct {
		Text string `json:"text"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Echoes text."},
		func(ctx context.Context, req *mcp.CallToolRequest, args echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: args.Text}}}, nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "wait", Description: "Waits."},
		func(ctx context.Context, req *mcp.CallToolRequest, args waitArgs) (*mcp.CallToolResult, any, error) {
			u.started <- args.Tag
			steps := max(args.Steps, 1)
			for i := 1; i <= steps; i++ {
				var after <-chan time.Time
				if args.Ms > 0 {
					after = time.After(time.Duration(args.Ms/steps) * time.Millisecond)
				}
				select {
				case <-after:
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				}
				if args.Steps > 0 {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Total: float64(steps)})
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "waited"}}}, nil, nil
		})
	server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			u.methods <- method
			return next(ctx, method, req)
		}
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	u.mu.Lock()
	u.handler = h
	u.mu.Unlock()
}

// waitMethod waits up to 5 s for the server to receive method.
func (u *testUpstream) waitMethod(t *testing.T, method string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-u.methods:
			if m == method {
				return
			}
		case <-timeout:
			t.Fatalf("the upstream got no %s", method)
		}
	}
}

// newTestGateway serves a gateway for cfg (its Upstream filled in) on
// httptest and returns its URL.
func newTestGateway(t *testing.T, u *testUpstream, cfg Config) (*Gateway, string) {
	t.Helper()
	cfg.Upstream = u.URL
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv.URL
}

// answer is one decoded answer of the gateway.
type answer struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

// do sends one request to the gateway.
func do(t *testing.T, method, url, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	_ = json.Unmarshal(b, &a.json)
	return a
}

// errorCode returns the code of a JSON error answer.
func (a answer) errorCode() string {
	e, _ := a.json["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}
