package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestStdioEverything runs @modelcontextprotocol/server-everything in its
// stdio mode as mcp_stdio's workers, behind mcp_keepalive in one site, and
// drives it with the TypeScript and Go SDK clients: tools/list, a call with
// the server's progress, and a call with no progress for 10 s while the
// clients' timers are 2-3 s, which succeeds because mcp_keepalive holds it.
func TestStdioEverything(t *testing.T) {
	c := startCaddy(t, "", stdioSite(everythingStdio(), "\t\thealth_interval 2s"))
	url := c.URL + "/mcp"
	waitHealth(t, url, 60*time.Second, "2 workers ready", func(h stdioHealth) bool { return len(h.ready()) == 2 })
	const long = "trigger-long-running-operation"

	t.Run("tools/list ts", func(t *testing.T) {
		t.Parallel()
		out, stderr := runCallMJS(t, map[string]any{"url": url, "tool": "echo", "args": map[string]any{"message": "hello"}, "listTools": true})
		var res struct {
			OK      bool     `json:"ok"`
			Tools   []string `json:"tools"`
			Results []struct {
				Result struct {
					Content []struct{ Text string } `json:"content"`
				} `json:"result"`
			} `json:"results"`
		}
		if err := json.Unmarshal(out, &res); err != nil || !res.OK {
			t.Fatalf("call.mjs: %v %s\n%s", err, out, stderr)
		}
		for _, name := range []string{"echo", long, "get-sum"} {
			if !slices.Contains(res.Tools, name) {
				t.Errorf("tools/list lacks %s: %v", name, res.Tools)
			}
		}
		if got := res.Results[0].Result.Content[0].Text; got != "Echo: hello" {
			t.Errorf("echo answered %q", got)
		}
	})
	t.Run("tools/list go", func(t *testing.T) {
		t.Parallel()
		s := goSession(t, url, nil)
		res, err := s.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
		}
		for _, name := range []string{"echo", long, "get-sum", "trigger-sampling-request"} {
			if !slices.Contains(names, name) {
				t.Errorf("tools/list lacks %s: %v", name, names)
			}
		}
	})
	for _, client := range []string{"ts", "go"} {
		call := func(t *testing.T, args map[string]any) callOutcome {
			if client == "ts" {
				return tsCall(t, url, long, args, nil)
			}
			return goCall(t, url, long, args)
		}
		t.Run("progress "+client, func(t *testing.T) {
			t.Parallel()
			o := call(t, map[string]any{"duration": 5, "steps": 5})
			if !o.OK || o.IsError || !strings.Contains(o.Text, "Long running operation completed") {
				t.Fatalf("call failed after %v: %s %s", o.Elapsed, o.Err, o.Text)
			}
			t.Logf("progress: %s", progressString(o.Progress))
			// The server's own progress carries its total (5, or shifted by
			// mcp_keepalive with the value) and no message; keep-alives have one.
			server := 0
			for _, p := range o.Progress {
				if p.Total != nil && *p.Total > 0 && (p.Message == nil || *p.Message == "") {
					server++
				}
			}
			if server > 5 || server < wantServerProgress(client) {
				t.Fatalf("%d of the server's 5 progress notifications arrived", server)
			}
			assertIncreasing(t, o.Progress, wantServerProgress(client))
		})
		t.Run("long "+client, func(t *testing.T) {
			t.Parallel()
			// One step: the server's only progress comes at the end, 10 s
			// in; the client's timers are far shorter.
			o := call(t, map[string]any{"duration": longCall / 1000, "steps": 1})
			if !o.OK || o.IsError || !strings.Contains(o.Text, "Long running operation completed") {
				t.Fatalf("call failed after %v: %s %s", o.Elapsed, o.Err, o.Text)
			}
			if o.Elapsed < longCall*time.Millisecond {
				t.Fatalf("the call took %v, less than the tool's %v", o.Elapsed, longCall*time.Millisecond)
			}
		})
	}
	t.Run("log to the GET stream", func(t *testing.T) {
		t.Parallel()
		testStdioGETStream(t, url)
	})
	t.Run("sampling", func(t *testing.T) {
		t.Parallel()
		testStdioSampling(t, url)
	})
	t.Run("elicitation", func(t *testing.T) {
		t.Parallel()
		testStdioElicitation(t, url)
	})
}

// testStdioSampling has two Go SDK clients call server-everything's
// trigger-sampling-request at once; each client answers the sampling
// request with its own text, and each call's result must carry its own
// client's answer and its own prompt.
func testStdioSampling(t *testing.T, url string) {
	var wg sync.WaitGroup
	for _, name := range []string{"alice", "bob"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mu sync.Mutex
			var prompts []string
			s := goSession(t, url, &mcp.ClientOptions{
				CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					mu.Lock()
					for _, m := range req.Params.Messages {
						if tc, ok := m.Content.(*mcp.TextContent); ok {
							prompts = append(prompts, tc.Text)
						}
					}
					mu.Unlock()
					return &mcp.CreateMessageResult{Model: "model-of-" + name, Role: "assistant",
						Content: &mcp.TextContent{Text: "answer for " + name}}, nil
				},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "trigger-sampling-request",
				Arguments: map[string]any{"prompt": "prompt of " + name}})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			text := resultText(res)
			if !strings.Contains(text, "answer for "+name) || !strings.Contains(text, "model-of-"+name) {
				t.Errorf("%s got another client's sampling answer: %s", name, text)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(prompts) != 1 || !strings.Contains(prompts[0], "prompt of "+name) {
				t.Errorf("%s was asked to sample %q", name, prompts)
			}
		}()
	}
	wg.Wait()
}

// TestStdioGoServer runs the tests' own Go SDK stdio server as workers
// behind mcp_keepalive, and has both clients list its tools, call its sleep
// tool with progress (5 steps), and call it for 10 s with no progress while
// their timers are 2-3 s: mcp_keepalive keeps that call alive.
func TestStdioGoServer(t *testing.T) {
	c := startCaddy(t, "", stdioSite(stdioServer, ""))
	url := c.URL + "/mcp"
	t.Run("tools/list", func(t *testing.T) {
		t.Parallel()
		out, stderr := runCallMJS(t, map[string]any{"url": url, "tool": "pid", "listTools": true})
		var res struct {
			OK    bool     `json:"ok"`
			Tools []string `json:"tools"`
		}
		if err := json.Unmarshal(out, &res); err != nil || !res.OK {
			t.Fatalf("call.mjs: %v %s\n%s", err, out, stderr)
		}
		s := goSession(t, url, nil)
		list, err := s.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range list.Tools {
			names = append(names, tool.Name)
		}
		for _, got := range [][]string{res.Tools, names} {
			slices.Sort(got)
			if !slices.Equal(got, []string{"echo", "pid", "sample", "sleep"}) {
				t.Errorf("tools/list: %v", got)
			}
		}
	})
	t.Run("foreign origin refused", func(t *testing.T) {
		t.Parallel()
		// Straight at mcp_stdio, without mcp_keepalive in front.
		direct := startCaddy(t, "", "\tmcp_stdio {\n\t\tcommand "+stdioServer+"\n\t\tmin_workers 1\n\t}")
		req, _ := http.NewRequest(http.MethodPost, direct.URL+"/mcp", strings.NewReader(
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Origin", "http://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "origin") {
			t.Fatalf("a foreign Origin got %d: %s", resp.StatusCode, body)
		}
		if h := getHealth(t, direct.URL+"/mcp"); h.Calls["ok"] != 0 {
			t.Fatalf("health after the refusal: %+v", h)
		}
	})
	for _, client := range []string{"ts", "go"} {
		call := func(t *testing.T, args map[string]any) callOutcome {
			if client == "ts" {
				return tsCall(t, url, "sleep", args, nil)
			}
			return goCall(t, url, "sleep", args)
		}
		t.Run("progress "+client, func(t *testing.T) {
			t.Parallel()
			o := call(t, map[string]any{"ms": 2500, "steps": 5})
			if !o.OK || o.IsError || !strings.HasPrefix(o.Text, "slept 2500 ms pid ") {
				t.Fatalf("call failed after %v: %s %s", o.Elapsed, o.Err, o.Text)
			}
			server := 0
			for _, p := range o.Progress {
				if p.Total != nil && *p.Total > 0 && (p.Message == nil || *p.Message == "") {
					server++
				}
			}
			if server > 5 || server < wantServerProgress(client) {
				t.Fatalf("%d of the server's 5 progress notifications arrived: %s", server, progressString(o.Progress))
			}
			assertIncreasing(t, o.Progress, wantServerProgress(client))
		})
		t.Run("long "+client, func(t *testing.T) {
			t.Parallel()
			o := call(t, map[string]any{"ms": longCall})
			if !o.OK || o.IsError || !strings.HasPrefix(o.Text, fmt.Sprintf("slept %d ms pid ", longCall)) {
				t.Fatalf("call failed after %v: %s %s", o.Elapsed, o.Err, o.Text)
			}
			if len(o.Progress) < 5 {
				t.Fatalf("%d keep-alive progress notifications in a 10 s call", len(o.Progress))
			}
		})
	}
}

// testStdioGETStream has a Go SDK client with its standalone GET stream
// open turn on server-everything's simulated logging: the worker's log
// messages, which belong to no call, reach the client on that stream.
func testStdioGETStream(t *testing.T, url string) {
	logs := make(chan string, 16)
	client := mcp.NewClient(&mcp.Implementation{Name: "integration-go-client", Version: "1.0.0"}, &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			select {
			case logs <- fmt.Sprint(req.Params.Data):
			default:
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The worker logs at once and then every 5 s: if the first message
	// comes before the client's GET stream is open, the next one is
	// enough.
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "toggle-simulated-logging"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("toggle: %s", resultText(res))
	select {
	case msg := <-logs:
		if !strings.Contains(msg, "message") {
			t.Fatalf("log message %q", msg)
		}
	case <-ctx.Done():
		t.Fatal("no log message on the GET stream")
	}
}

// testStdioElicitation has one Go SDK client accept server-everything's
// elicitation with a name, and another decline it, at the same time: each
// call's result reports its own client's answer.
func testStdioElicitation(t *testing.T, url string) {
	var wg sync.WaitGroup
	for _, action := range []string{"accept", "decline"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := goSession(t, url, &mcp.ClientOptions{
				ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					if action == "decline" {
						return &mcp.ElicitResult{Action: "decline"}, nil
					}
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada Lovelace"}}, nil
				},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "trigger-elicitation-request"})
			if err != nil {
				t.Errorf("%s: %v", action, err)
				return
			}
			var all strings.Builder
			for _, c := range res.Content {
				if tc, ok := c.(*mcp.TextContent); ok {
					all.WriteString(tc.Text + "\n")
				}
			}
			want := "User declined"
			if action == "accept" {
				want = "Ada Lovelace"
			}
			if !strings.Contains(all.String(), want) {
				t.Errorf("the %s client's result lacks %q:\n%s", action, want, all.String())
			}
		}()
	}
	wg.Wait()
}

// wantServerProgress is how many of a server's 5 progress notifications a
// client is sure to have seen when its call returns. The Go SDK client
// hands notifications to their handler on a queue of their own, while a
// response ends the call at once, so the last one may be handled just after
// CallTool returns; the TypeScript SDK handles messages in order.
func wantServerProgress(client string) int {
	if client == "go" {
		return 4
	}
	return 5
}
