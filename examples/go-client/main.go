// Command go-client calls the demo's stata_run_selection with the MCP Go SDK
// and prints its progress and result:
//
//	go run ./examples/go-client [http://localhost:8080/mcp]
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	url := "http://localhost:8080/mcp"
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "demo", Version: "1.0.0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			fmt.Println(req.Params.Message)
		},
	})
	// The Go SDK has no request timer of its own: the context is the only
	// limit, so give the whole call one, as long as the longest run.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	params := &mcp.CallToolParams{
		Name:      "stata_run_selection",
		Arguments: map[string]any{"code": "display \"hello\"\nsleep 15000\ndisplay \"done\""},
	}
	params.SetProgressToken("demo") // asks for progress; without it, no progress comes
	result, err := session.CallTool(ctx, params)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(result.Content[0].(*mcp.TextContent).Text)
}
