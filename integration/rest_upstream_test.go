package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// restUpstream is the Go SDK MCP server that the mcp_rest tests put behind
// the gateway: on a fixed port, so that it can be stopped and started again
// (losing every session, as a restarted server does), and recording what the
// gateway asks of it.
type restUpstream struct {
	t    *testing.T
	Addr string // host:port, the same across restarts
	URL  string // the MCP endpoint
	// token, when set, is the bearer token every request must carry.
	token string

	mu  sync.Mutex
	srv *http.Server

	// cancelled receives the requestId of every notifications/cancelled.
	cancelled chan string
	// started receives the tag of every slow call as it starts, ended the
	// tag and context error of every slow call as it ends.
	started chan string
	ended   chan toolEnd
	// auth counts the requests refused for a missing or wrong token.
	refused int
}

// slowArgs are the arguments of the slow tool.
type slowArgs struct {
	Ms    int    `json:"ms" jsonschema:"how long to run, in milliseconds"`
	Steps int    `json:"steps,omitempty" jsonschema:"how many progress and log messages to send"`
	Tag   string `json:"tag,omitempty" jsonschema:"a label the test finds the run by"`
}

// addArgs and addOut are the arguments and structured result of add.
type addArgs struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}
type addOut struct {
	Sum float64 `json:"sum"`
}

// startRESTUpstream starts the server on a free port.
func startRESTUpstream(t *testing.T, token string) *restUpstream {
	t.Helper()
	u := &restUpstream{t: t, token: token, Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		cancelled: make(chan string, 16), started: make(chan string, 16), ended: make(chan toolEnd, 16)}
	u.URL = "http://" + u.Addr + "/mcp"
	u.start()
	t.Cleanup(u.stop)
	return u
}

// server returns a new MCP server with the tools add, slow and fail.
func (u *restUpstream) server() *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "rest-upstream", Version: "1.2.3"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Adds two numbers."},
		func(ctx context.Context, req *mcp.CallToolRequest, args addArgs) (*mcp.CallToolResult, addOut, error) {
			return nil, addOut{Sum: args.A + args.B}, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "slow", Description: "Runs for ms, with steps progress and log messages."},
		func(ctx context.Context, req *mcp.CallToolRequest, args slowArgs) (*mcp.CallToolResult, any, error) {
			u.started <- args.Tag
			steps := max(args.Steps, 1)
			for i := 1; i <= steps; i++ {
				select {
				case <-time.After(time.Duration(args.Ms/steps) * time.Millisecond):
				case <-ctx.Done():
					u.ended <- toolEnd{Tag: args.Tag, Err: ctx.Err()}
					return nil, nil, ctx.Err()
				}
				if args.Steps == 0 {
					continue
				}
				if token := req.Params.GetProgressToken(); token != nil {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token,
						Progress: float64(i), Total: float64(steps), Message: fmt.Sprintf("step %d of %d", i, steps)})
				}
				_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "slow",
					Data: fmt.Sprintf("%s: step %d", args.Tag, i)})
			}
			u.ended <- toolEnd{Tag: args.Tag}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran " + args.Tag}}}, nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "fail", Description: "Always fails as a tool."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "it failed"}}}, nil, nil
		})
	server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "notifications/cancelled" {
				if p, ok := req.GetParams().(*mcp.CancelledParams); ok {
					u.cancelled <- fmt.Sprint(p.RequestID)
				}
			}
			return next(ctx, method, req)
		}
	})
	return server
}

// start serves a new server (with no sessions) on u.Addr.
func (u *restUpstream) start() {
	u.t.Helper()
	server := u.server()
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	var l net.Listener
	var err error
	// The port was free a moment ago; after a stop it may take a moment.
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", u.Addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		u.t.Fatalf("listening on %s: %v", u.Addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u.token != "" && r.Header.Get("Authorization") != "Bearer "+u.token {
			u.mu.Lock()
			u.refused++
			u.mu.Unlock()
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		handler.ServeHTTP(w, r)
	})}
	u.mu.Lock()
	u.srv = srv
	u.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// stop ends the server and every connection to it.
func (u *restUpstream) stop() {
	u.mu.Lock()
	srv := u.srv
	u.srv = nil
	u.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// restart stops the server and starts a new one on the same address: the
// gateway's sessions are unknown to it.
func (u *restUpstream) restart() {
	u.stop()
	u.start()
}

// waitCancelled waits up to 10 s for a notifications/cancelled.
func (u *restUpstream) waitCancelled(t *testing.T) string {
	t.Helper()
	select {
	case id := <-u.cancelled:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream got no notifications/cancelled")
		return ""
	}
}

// waitEnded waits up to 10 s for the slow call tagged tag to end there.
func (u *restUpstream) waitEnded(t *testing.T, tag string) toolEnd {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-u.ended:
			if e.Tag == tag {
				return e
			}
		case <-deadline:
			t.Fatalf("the slow call %q did not end upstream", tag)
			return toolEnd{}
		}
	}
}

// isCancelled reports whether a tool's context error is a cancellation.
func isCancelled(err error) bool { return errors.Is(err, context.Canceled) }

// refusedCount returns how many requests the upstream refused for their token.
func (u *restUpstream) refusedCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.refused
}
