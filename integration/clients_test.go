package integration

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// Client timers of the tests: each is far shorter than the 10 s tool.
const (
	headersTimeout = 2 * time.Second // undici headersTimeout; Go ResponseHeaderTimeout
	bodyTimeout    = 2 * time.Second // undici bodyTimeout; the Go client's idle body timer
	requestTimeout = 3 * time.Second // the MCP request timeout, reset by progress
	longCall       = 10000           // ms the long tool runs
)

// progressEvent is one progress notification a client received.
type progressEvent struct {
	Progress float64  `json:"progress"`
	Total    *float64 `json:"total"`
	Message  *string  `json:"message"`
}

// callOutcome is what a client saw of one tool call.
type callOutcome struct {
	OK       bool
	Text     string // the first text content of the result
	IsError  bool
	Err      string
	Progress []progressEvent
	Elapsed  time.Duration
}

// tsCall calls a tool with the TypeScript SDK client (integration/ts/call.mjs)
// with the timers above, and returns what it saw. Entries of extra override
// the client's settings (see integration/ts/README.md).
func tsCall(t *testing.T, url, tool string, args map[string]any, extra map[string]any) callOutcome {
	t.Helper()
	outcomes := tsCalls(t, url, tool, args, extra)
	if len(outcomes) != 1 {
		t.Fatalf("call.mjs: %d results, want 1", len(outcomes))
	}
	return outcomes[0]
}

// tsCalls is tsCall for several concurrent calls on one client (extra's
// "calls"); it returns one outcome per call.
func tsCalls(t *testing.T, url, tool string, args map[string]any, extra map[string]any) []callOutcome {
	t.Helper()
	cfg := map[string]any{
		"url": url, "tool": tool, "args": args,
		"timeoutMs": requestTimeout.Milliseconds(), "resetTimeoutOnProgress": true, "progress": true,
		"headersTimeoutMs": headersTimeout.Milliseconds(), "bodyTimeoutMs": bodyTimeout.Milliseconds(),
		"connectTimeoutMs": 10000,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	out, stderr := runCallMJS(t, cfg)
	var res struct {
		OK           bool    `json:"ok"`
		ConnectError *string `json:"connectError"`
		Results      []struct {
			OK     bool `json:"ok"`
			Result *struct {
				Content []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"content"`
				IsError bool `json:"isError"`
			} `json:"result"`
			Error     *string         `json:"error"`
			Progress  []progressEvent `json:"progress"`
			ElapsedMs int64           `json:"elapsedMs"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("call.mjs printed %q: %v", out, err)
	}
	if res.ConnectError != nil {
		return []callOutcome{{Err: "connect: " + *res.ConnectError}}
	}
	var outcomes []callOutcome
	for _, r := range res.Results {
		o := callOutcome{OK: r.OK, Progress: r.Progress, Elapsed: time.Duration(r.ElapsedMs) * time.Millisecond}
		if r.Error != nil {
			o.Err = *r.Error
		}
		if r.Result != nil {
			o.IsError = r.Result.IsError
			if len(r.Result.Content) > 0 {
				o.Text = r.Result.Content[0].Text
			}
		}
		outcomes = append(outcomes, o)
	}
	if !res.OK {
		t.Logf("ts client stderr:\n%s", stderr)
	}
	return outcomes
}

// runCallMJS runs the TypeScript SDK client (integration/ts/call.mjs) with
// cfg, and returns what it printed and its diagnostics.
func runCallMJS(t *testing.T, cfg map[string]any) (out []byte, stderr string) {
	t.Helper()
	arg, _ := json.Marshal(cfg)
	cmd := exec.Command("node", filepath.Join(tsDir, "call.mjs"), string(arg))
	var errs lockedBuffer
	cmd.Stderr = &errs
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("call.mjs: %v\n%s", err, errs.String())
	}
	return out, errs.String()
}

// goCall calls a tool with the Go SDK client, through an HTTP client whose
// header and idle-body timers are the ones above, and a watchdog that ends
// the call when no progress came for requestTimeout (what the TypeScript
// SDK's resetTimeoutOnProgress does).
func goCall(t *testing.T, url, tool string, args map[string]any) callOutcome {
	t.Helper()
	return goCallVersion(t, url, tool, args, "")
}

// goCallVersion is goCall with the client offering the given protocol
// revision ("" for the SDK's latest).
func goCallVersion(t *testing.T, url, tool string, args map[string]any, version string) callOutcome {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu       sync.Mutex
		progress []progressEvent
	)
	progressed := make(chan struct{}, 1)
	client := mcp.NewClient(&mcp.Implementation{Name: "integration-go-client", Version: "1.0.0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			msg, total := req.Params.Message, req.Params.Total
			progress = append(progress, progressEvent{Progress: req.Params.Progress, Total: &total, Message: &msg})
			mu.Unlock()
			select {
			case progressed <- struct{}{}:
			default:
			}
		},
	})
	tr := &http.Transport{ResponseHeaderTimeout: headersTimeout}
	defer tr.CloseIdleConnections()
	transport := &mcp.StreamableClientTransport{
		Endpoint:             url,
		HTTPClient:           &http.Client{Transport: idleTimeout{base: tr, d: bodyTimeout}},
		DisableStandaloneSSE: true,
	}
	connectCtx, connectCancel := context.WithTimeout(ctx, 10*time.Second)
	session, err := client.Connect(connectCtx, transport, &mcp.ClientSessionOptions{ProtocolVersion: version})
	connectCancel()
	if err != nil {
		return callOutcome{Err: "connect: " + err.Error()}
	}
	defer session.Close()

	// The watchdog: a call with no progress for requestTimeout times out.
	callCtx, callCancel := context.WithCancelCause(ctx)
	defer callCancel(nil)
	go func() {
		timer := time.NewTimer(requestTimeout)
		defer timer.Stop()
		for {
			select {
			case <-progressed:
				timer.Reset(requestTimeout)
			case <-timer.C:
				callCancel(errors.New("request timed out: no progress for " + requestTimeout.String()))
				return
			case <-callCtx.Done():
				return
			}
		}
	}()
	params := &mcp.CallToolParams{Name: tool, Arguments: args}
	params.SetProgressToken("go-progress")
	start := time.Now()
	res, err := session.CallTool(callCtx, params)
	o := callOutcome{Elapsed: time.Since(start)}
	mu.Lock()
	o.Progress = append(o.Progress, progress...)
	mu.Unlock()
	if err != nil {
		o.Err = err.Error()
		if cause := context.Cause(callCtx); cause != nil {
			o.Err += " (" + cause.Error() + ")"
		}
		return o
	}
	o.OK, o.IsError = true, res.IsError
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(*mcp.TextContent); ok {
			o.Text = tc.Text
		}
	}
	return o
}

// idleTimeout closes a response body that delivers no byte for d, like
// undici's bodyTimeout.
type idleTimeout struct {
	base http.RoundTripper
	d    time.Duration
}

func (it idleTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := it.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b := &idleBody{rc: resp.Body, d: it.d}
	b.timer = time.AfterFunc(it.d, func() { b.rc.Close() })
	resp.Body = b
	return resp, nil
}

// idleBody is a response body watched by an idle timer.
type idleBody struct {
	rc    io.ReadCloser
	d     time.Duration
	timer *time.Timer
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.d)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.rc.Close()
}

// lockedBuffer is a bytes buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// assertIncreasing fails unless progress strictly increases and there are at
// least min values.
func assertIncreasing(t *testing.T, progress []progressEvent, min int) {
	t.Helper()
	if len(progress) < min {
		t.Fatalf("%d progress notifications, want at least %d", len(progress), min)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Progress <= progress[i-1].Progress {
			t.Fatalf("progress went from %v to %v at %d", progress[i-1].Progress, progress[i].Progress, i)
		}
	}
}

// goCallDrop calls a tool with the Go SDK client at its default revision and
// ends the call's context after the given time. Every event the client
// receives has its id passed to onID; any notifications/cancelled the client
// tries to send is refused, so that only dropping the stream can cancel.
func goCallDrop(t *testing.T, url, tool string, args map[string]any, after time.Duration, onID func(string)) callOutcome {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "integration-go-client", Version: "1.0.0"}, nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	transport := &mcp.StreamableClientTransport{
		Endpoint:             url,
		HTTPClient:           &http.Client{Transport: sniffer{base: tr, onID: onID}},
		DisableStandaloneSSE: true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	session, err := client.Connect(ctx, transport, nil)
	cancel()
	if err != nil {
		return callOutcome{Err: "connect: " + err.Error()}
	}
	defer session.Close()
	ctx, cancel = context.WithTimeout(context.Background(), after)
	defer cancel()
	params := &mcp.CallToolParams{Name: tool, Arguments: args}
	params.SetProgressToken("drop")
	start := time.Now()
	_, err = session.CallTool(ctx, params)
	o := callOutcome{OK: err == nil, Elapsed: time.Since(start)}
	if err != nil {
		o.Err = err.Error()
	}
	return o
}

// sniffer reports the ids of the events in every event-stream response and
// refuses to send notifications/cancelled.
type sniffer struct {
	base http.RoundTripper
	onID func(string)
}

func (s sniffer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.GetBody != nil {
		if b, err := req.GetBody(); err == nil {
			body, _ := io.ReadAll(b)
			if strings.Contains(string(body), "notifications/cancelled") {
				return nil, errors.New("sniffer: cancellation by notification refused in this test")
			}
		}
	}
	resp, err := s.base.RoundTrip(req)
	if err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, err
	}
	resp.Body = &sniffBody{rc: resp.Body, onID: s.onID, dec: sse.NewDecoder(0)}
	return resp, nil
}

// sniffBody decodes the events of a body as it is read.
type sniffBody struct {
	rc   io.ReadCloser
	onID func(string)
	dec  *sse.Decoder
}

func (b *sniffBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.dec.Feed(p[:n], func(ev sse.Event) { b.onID(ev.ID) })
	return n, err
}

func (b *sniffBody) Close() error { return b.rc.Close() }
