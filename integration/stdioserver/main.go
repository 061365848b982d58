// Command stdioserver is a small MCP server on the official Go SDK that
// speaks stdio, for the mcp_stdio integration tests. Its tools:
//
//   - echo {text}: answers "<text> pid <pid>", so a test can tell which
//     caller an answer belongs to and which worker ran it;
//   - sleep {ms, steps, text}: waits ms milliseconds, sending `steps`
//     progress notifications on the way when the caller asked for progress,
//     then answers "<text>slept <ms> ms pid <pid>";
//   - pid: answers the worker's pid;
//   - sample {text}: asks its client for a sampling/createMessage with the
//     text as prompt and answers "<text> sampled: <the client's text>".
//
// It logs one line to stderr when it starts.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// echoArgs are the arguments of echo.
type echoArgs struct {
	Text string `json:"text"`
}

// sleepArgs are the arguments of sleep.
type sleepArgs struct {
	Text  string `json:"text,omitempty"`
	MS    int    `json:"ms"`
	Steps int    `json:"steps,omitempty"`
}

// text returns a tool result with one text content.
func text(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

func main() {
	log.SetFlags(0)
	pid := os.Getpid()
	server := mcp.NewServer(&mcp.Implementation{Name: "stdioserver", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Echo text with the worker's pid."},
		func(_ context.Context, _ *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			return text("%s pid %d", a.Text, pid), nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "sleep", Description: "Wait ms milliseconds, with optional progress steps."},
		func(ctx context.Context, req *mcp.CallToolRequest, a sleepArgs) (*mcp.CallToolResult, any, error) {
			steps := max(a.Steps, 1)
			token := req.Params.GetProgressToken()
			for i := 1; i <= steps; i++ {
				select {
				case <-time.After(time.Duration(a.MS) * time.Millisecond / time.Duration(steps)):
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				}
				if token != nil && a.Steps > 0 {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: token, Progress: float64(i), Total: float64(steps),
					})
				}
			}
			return text("%sslept %d ms pid %d", a.Text, a.MS, pid), nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "pid", Description: "The worker's pid."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return text("%d", pid), nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "sample", Description: "Ask the client to sample a message."},
		func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
				MaxTokens: 10,
				Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: a.Text}}},
			})
			if err != nil {
				return nil, nil, err
			}
			answer := ""
			if tc, ok := res.Content.(*mcp.TextContent); ok {
				answer = tc.Text
			}
			return text("%s sampled: %s", a.Text, answer), nil, nil
		})
	log.Printf("stdioserver pid %d starting", pid)
	if err := server.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		log.Printf("stdioserver pid %d: %v", pid, err)
		os.Exit(1)
	}
}
