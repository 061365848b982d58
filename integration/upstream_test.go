package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// toolEnd is how one run of the sleep tool ended on the upstream.
type toolEnd struct {
	Tag string
	Err error // the tool's context error, nil if it ran to its end
}

// upstream is a real MCP server (the Go SDK's Streamable HTTP handler) with
// tools that take their time, behind a thin wrapper that can make a call fail
// the way a broken server does.
type upstream struct {
	URL      string // the MCP endpoint
	HostPort string
	// ends receives every run of the sleep tool as it ends.
	ends chan toolEnd
}

// sleepArgs are the arguments of the sleep tools.
type sleepArgs struct {
	Ms  int    `json:"ms" jsonschema:"how long to sleep, in milliseconds"`
	Tag string `json:"tag,omitempty" jsonschema:"a label the test uses to find this run"`
}

// startUpstream starts the server. In JSON mode it answers each POST with
// one JSON body when the tool is done, as fastapi_mcp does; otherwise with an
// event stream.
func startUpstream(t *testing.T, jsonMode bool) *upstream {
	t.Helper()
	return startUpstreamWith(t, jsonMode, false)
}

// startUpstreamWith is startUpstream with a choice of a stateless handler,
// the only kind over which the Go SDK speaks protocol 2026-07-28.
func startUpstreamWith(t *testing.T, jsonMode, stateless bool) *upstream {
	t.Helper()
	u := &upstream{ends: make(chan toolEnd, 64)}
	server := mcp.NewServer(&mcp.Implementation{Name: "integration-upstream", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "sleep", Description: "Sleeps, then answers."},
		func(ctx context.Context, req *mcp.CallToolRequest, args sleepArgs) (*mcp.CallToolResult, any, error) {
			select {
			case <-time.After(time.Duration(args.Ms) * time.Millisecond):
			case <-ctx.Done():
			}
			u.ends <- toolEnd{Tag: args.Tag, Err: ctx.Err()}
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return &mcp.CallToolResult{Content: []mcp.Content{
				&mcp.TextContent{Text: fmt.Sprintf("slept %d ms", args.Ms)},
			}}, nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "progress_sleep", Description: "Sleeps, reporting its own progress."},
		func(ctx context.Context, req *mcp.CallToolRequest, args sleepArgs) (*mcp.CallToolResult, any, error) {
			token := req.Params.GetProgressToken()
			steps := args.Ms / 300
			for i := 1; i <= steps; i++ {
				select {
				case <-time.After(300 * time.Millisecond):
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				}
				if token != nil {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: token, Progress: float64(i), Total: float64(steps),
						Message: fmt.Sprintf("upstream step %d of %d", i, steps),
					})
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done with progress"}}}, nil, nil
		})
	// The fault tools exist so that clients may call them; the wrapper
	// answers for them.
	for _, name := range []string{"die", "fail500"} {
		mcp.AddTool(server, &mcp.Tool{Name: name, Description: "Fails the call after ms."},
			func(ctx context.Context, req *mcp.CallToolRequest, args sleepArgs) (*mcp.CallToolResult, any, error) {
				return nil, nil, fmt.Errorf("the wrapper should have answered")
			})
	}
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		// From 2026-07-28 a closed request is the cancellation; the SDK
		// honours that only when asked to.
		&mcp.StreamableHTTPOptions{JSONResponse: jsonMode, Stateless: stateless, PropagateRequestCancellation: true})
	srv := httptest.NewServer(faults(handler, jsonMode))
	t.Cleanup(srv.Close)
	u.URL = srv.URL + "/mcp"
	u.HostPort = strings.TrimPrefix(srv.URL, "http://")
	return u
}

// faults answers calls of the die and fail500 tools the way broken servers
// do: after the requested time, die closes the connection (in JSON mode
// before any header, in SSE mode in the middle of the stream) and fail500
// answers 500 with an HTML page. Everything else goes to next.
func faults(next http.Handler, jsonMode bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Name      string    `json:"name"`
				Arguments sleepArgs `json:"arguments"`
			} `json:"params"`
		}
		_ = json.Unmarshal(body, &msg)
		if msg.Method != "tools/call" || (msg.Params.Name != "die" && msg.Params.Name != "fail500") {
			next.ServeHTTP(w, r)
			return
		}
		delay := time.Duration(msg.Params.Arguments.Ms) * time.Millisecond
		if msg.Params.Name == "fail500" {
			time.Sleep(delay)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "<html><body>Internal Server Error</body></html>")
			return
		}
		if !jsonMode {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"about to die\"}}\n\n")
			http.NewResponseController(w).Flush()
		}
		time.Sleep(delay)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
}
