package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestCancelReachesUpstream(t *testing.T) {
	methods := make(chan string, 100)
	started := make(chan struct{}, 1)
	server := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "wait"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, nil, ctx.Err()
	})
	server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			methods <- method
			return next(ctx, method, req)
		}
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	defer srv.Close()
	g, err := New(Config{Upstream: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	info, err := g.lookup(context.Background(), "wait")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := g.run(ctx, &call{tool: info, args: map[string]any{}, start: time.Now()})
		done <- err
	}()
	<-started
	cancel()
	fmt.Println("run:", <-done)
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-methods:
			fmt.Println("method", m)
			if m == "notifications/cancelled" {
				return
			}
		case <-timeout:
			t.Fatal("no notifications/cancelled")
		}
	}
}
