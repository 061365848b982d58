package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// sseTransport makes call.mjs use the TypeScript SDK's SSEClientTransport,
// the client of the legacy HTTP+SSE transport.
var sseTransport = map[string]any{"transport": "sse"}

// legacyUpstream is a real legacy MCP server: the TypeScript SDK's
// SSEServerTransport, run by integration/ts/legacy-server.mjs.
type legacyUpstream struct {
	URL      string // the SSE endpoint, http://127.0.0.1:PORT/sse
	HostPort string
}

// startLegacyUpstream starts the server on a free port and waits until it
// listens; it is stopped when the test ends.
func startLegacyUpstream(t *testing.T) *legacyUpstream {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command("node", filepath.Join(tsDir, "legacy-server.mjs"), strconv.Itoa(port))
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("legacy-server.mjs stderr:\n%s", stderr.String())
		}
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && !strings.HasPrefix(line, "ready ") {
			err = fmt.Errorf("printed %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("legacy-server.mjs did not start: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("legacy-server.mjs did not start in 30 s:\n%s", stderr.String())
	}
	hostPort := "127.0.0.1:" + strconv.Itoa(port)
	return &legacyUpstream{URL: "http://" + hostPort + "/sse", HostPort: hostPort}
}

// TestLegacyLongCallSurvivesClientTimers is the product's promise on the
// legacy HTTP+SSE transport: a tool call far longer than the client's timers
// fails straight at the upstream and succeeds through caddy-stata, with
// strictly increasing progress injected into the session's GET stream.
func TestLegacyLongCallSurvivesClientTimers(t *testing.T) {
	up := startLegacyUpstream(t)
	c := startCaddy(t, up.HostPort, keepAliveSite)
	args := map[string]any{"ms": longCall}
	want := fmt.Sprintf("slept %d ms", longCall)
	t.Run("direct fails", func(t *testing.T) {
		t.Parallel()
		if o := tsCall(t, up.URL, "sleep", args, sseTransport); o.OK {
			t.Fatalf("the call succeeded straight at the upstream (%v); the test's timers prove nothing", o.Elapsed)
		} else {
			t.Logf("direct: failed after %v: %s", o.Elapsed, o.Err)
		}
	})
	t.Run("through caddy-stata succeeds", func(t *testing.T) {
		t.Parallel()
		o := tsCall(t, c.URL+"/sse", "sleep", args, sseTransport)
		if !o.OK || o.IsError || o.Text != want {
			t.Fatalf("call failed after %v: %s (result %q)", o.Elapsed, o.Err, o.Text)
		}
		assertIncreasing(t, o.Progress, 5)
		t.Logf("through caddy-stata: %d progress notifications, result after %v", len(o.Progress), o.Elapsed)
		if m := o.Progress[0].Message; m == nil || !strings.Contains(*m, "sleep") {
			t.Fatalf("progress message %v does not name the tool", m)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.waitLog(ctx, "held call finished", `"tool":"sleep"`, `"outcome":"response"`, `"transport":"legacy"`); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLegacySessionsSeparate runs two legacy sessions through caddy-stata at
// once, with calls of different lengths in flight together: one call of 8 s
// in the first, two concurrent calls of 5 s in the second. The TypeScript
// client uses its request id as the progress token (1 in the first session,
// 1 and 2 in the second), so progress that reached the wrong session would
// show as too many notifications, values that do not increase, progress
// after the result, or an "unknown token" error.
func TestLegacySessionsSeparate(t *testing.T) {
	up := startLegacyUpstream(t)
	c := startCaddy(t, up.HostPort, keepAliveSite)
	sessions := []struct{ ms, calls int }{{8000, 1}, {5000, 2}}
	outs := make([]legacyOutput, len(sessions))
	t.Run("calls", func(t *testing.T) {
		for i, s := range sessions {
			t.Run(fmt.Sprintf("session %d", i), func(t *testing.T) {
				t.Parallel()
				outs[i] = tsRun(t, map[string]any{
					"url": c.URL + "/sse", "transport": "sse", "tool": "sleep", "args": map[string]any{"ms": s.ms},
					"calls":     s.calls,
					"timeoutMs": requestTimeout.Milliseconds(), "resetTimeoutOnProgress": true, "progress": true,
					"headersTimeoutMs": headersTimeout.Milliseconds(), "bodyTimeoutMs": bodyTimeout.Milliseconds(),
					"connectTimeoutMs": 10000,
				})
			})
		}
	})
	if t.Failed() {
		return
	}
	for i, s := range sessions {
		o := outs[i]
		if !o.OK || len(o.Results) != s.calls {
			t.Fatalf("session %d: %+v", i, o)
		}
		if errs := unexpectedErrors(o); len(errs) > 0 {
			t.Errorf("session %d: client errors: %q", i, errs)
		}
		for k, r := range o.Results {
			want := fmt.Sprintf("slept %d ms", s.ms)
			if !r.OK || r.Result == nil || len(r.Result.Content) == 0 || r.Result.Content[0].Text != want {
				t.Fatalf("session %d call %d: failed after %d ms: %v", i, k, r.ElapsedMs, r.Error)
			}
			// One keep-alive a second from a second after the call started.
			low, high := s.ms/1000-2, s.ms/1000+1
			if n := len(r.Progress); n < low || n > high {
				t.Errorf("session %d call %d: %d progress notifications for a %d ms call, want %d to %d: %+v",
					i, k, n, s.ms, low, high, r.Progress)
			}
			for j, p := range r.Progress {
				if j > 0 && p.Progress <= r.Progress[j-1].Progress {
					t.Errorf("session %d call %d: progress went from %v to %v", i, k, r.Progress[j-1].Progress, p.Progress)
				}
				if p.AtMs > r.ElapsedMs {
					t.Errorf("session %d call %d: progress at %d ms, after the result at %d ms", i, k, p.AtMs, r.ElapsedMs)
				}
				if p.Message == nil || !strings.HasPrefix(*p.Message, "sleep: running for ") {
					t.Errorf("session %d call %d: progress message %v does not name the tool", i, k, p.Message)
				}
			}
			t.Logf("session %d call %d: %d ms call, %d progress notifications, result after %d ms",
				i, k, s.ms, len(r.Progress), r.ElapsedMs)
		}
	}
}

// unexpectedErrors returns the client's onerror reports, less the one kind
// that a correct proxy can cause. The TypeScript SDK handles a notification
// on a later microtask than a response, so a keep-alive sent just before the
// response, and read in the same chunk, finds its handler gone and is
// reported as "unknown token". Such a report is expected once per call at
// most, for the call's own token (its request id: the i-th call of a client
// is id i+1, after initialize's 0), with the value next after the last one
// the call received. Progress that strayed from another session has no
// such excuse.
func unexpectedErrors(o legacyOutput) []string {
	const unknown = "Error: Received a progress notification for an unknown token: "
	var errs []string
	late := map[float64]bool{}
	for _, e := range o.OnError {
		var n struct {
			Params struct {
				ProgressToken float64 `json:"progressToken"`
				Progress      float64 `json:"progress"`
			} `json:"params"`
		}
		rest, ok := strings.CutPrefix(e, unknown)
		if !ok || json.Unmarshal([]byte(rest), &n) != nil {
			errs = append(errs, e)
			continue
		}
		tok, i := n.Params.ProgressToken, int(n.Params.ProgressToken)-1
		if i < 0 || i >= len(o.Results) || float64(i+1) != tok || late[tok] {
			errs = append(errs, e)
			continue
		}
		prog := o.Results[i].Progress
		var last float64
		if len(prog) > 0 {
			last = prog[len(prog)-1].Progress
		}
		if n.Params.Progress != last+1 {
			errs = append(errs, e)
			continue
		}
		late[tok] = true
	}
	return errs
}

// legacyOutput is everything call.mjs printed (see integration/ts/README.md).
type legacyOutput struct {
	OK           bool     `json:"ok"`
	ConnectError *string  `json:"connectError"`
	OnError      []string `json:"onerror"`
	Results      []struct {
		OK     bool `json:"ok"`
		Result *struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
		Error    *string `json:"error"`
		Progress []struct {
			Progress float64 `json:"progress"`
			Message  *string `json:"message"`
			AtMs     int64   `json:"atMs"`
		} `json:"progress"`
		ElapsedMs int64 `json:"elapsedMs"`
	} `json:"results"`
}

// tsRun runs call.mjs with cfg and returns all it printed, the client's
// onerror reports and the times of progress notifications included.
func tsRun(t *testing.T, cfg map[string]any) legacyOutput {
	t.Helper()
	out, stderr := runCallMJS(t, cfg)
	var o legacyOutput
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("call.mjs printed %q: %v", out, err)
	}
	if !o.OK {
		t.Logf("ts client stderr:\n%s", stderr)
	}
	return o
}

// maxHeldOneSite is keepAliveSite with room for one held call.
const maxHeldOneSite = `
	mcp_keepalive {
		grace 500ms
		interval 1s
		max_held 1
	}
	reverse_proxy {upstream} {
		header_up Host {upstream_hostport}
	}`

// TestLegacyMaxHeld checks max_held on the legacy transport: while one
// legacy call is pending, a tools/call of another session is refused with
// 503 and a JSON-RPC error for its id, and never reaches the server, while
// the first completes and is counted in the metrics.
func TestLegacyMaxHeld(t *testing.T) {
	up := startLegacyUpstream(t)
	c := startCaddy(t, up.HostPort, maxHeldOneSite)
	const ms = 4000
	var first callOutcome
	t.Run("calls", func(t *testing.T) {
		t.Run("first", func(t *testing.T) {
			t.Parallel()
			first = tsCall(t, c.URL+"/sse", "sleep", map[string]any{"ms": ms}, sseTransport)
		})
		t.Run("second", func(t *testing.T) {
			t.Parallel()
			deadline := time.Now().Add(20 * time.Second)
			for metric(t, c, "caddy_mcp_keepalive_calls_held") != 1 {
				if time.Now().After(deadline) {
					t.Fatal("the first call was never held")
				}
				time.Sleep(20 * time.Millisecond)
			}
			status, body := legacyPost(t, c.URL+"/sse",
				`{"jsonrpc":"2.0","id":"second","method":"tools/call","params":{"name":"sleep","arguments":{"ms":1}}}`)
			var m struct {
				ID    string `json:"id"`
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if status != http.StatusServiceUnavailable || json.Unmarshal(body, &m) != nil ||
				m.ID != "second" || m.Error.Code != -32000 || !strings.Contains(m.Error.Message, "too many calls") {
				t.Fatalf("the second call got %d %s", status, body)
			}
		})
	})
	if t.Failed() {
		return
	}
	if want := fmt.Sprintf("slept %d ms", ms); !first.OK || first.IsError || first.Text != want {
		t.Fatalf("the first call failed after %v: %s (result %q)", first.Elapsed, first.Err, first.Text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A call's log line comes after its metrics are counted.
	if _, err := c.waitLog(ctx, "held call finished", `"outcome":"response"`, `"transport":"legacy"`); err != nil {
		t.Fatal(err)
	}
	if n := c.countLogs("held call refused: too many held calls", `"transport":"legacy"`); n != 1 {
		t.Errorf("%d refusal log lines", n)
	}
	if n := c.countLogs("held call finished"); n != 1 {
		t.Errorf("%d calls finished, want 1 (the refused one never started)", n)
	}
	for name, want := range map[string]float64{
		`caddy_mcp_keepalive_calls_finished_total{outcome="response"}`: 1,
		`caddy_mcp_keepalive_calls_held`:                               0,
	} {
		if v := metric(t, c, name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if v := metric(t, c, `caddy_mcp_keepalive_keepalives_total{kind="progress"}`); v < 2 {
		t.Errorf("%v progress keep-alives counted", v)
	}
}

// legacyPost opens a legacy session at sseURL, as a client without an SDK
// would, POSTs body to the URL its endpoint event names and returns the
// POST's status and body. The session is closed before it returns.
func legacyPost(t *testing.T, sseURL, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sseURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dec sse.Decoder
	endpoint := ""
	buf := make([]byte, 4096)
	for endpoint == "" {
		n, err := resp.Body.Read(buf)
		dec.Feed(buf[:n], func(ev sse.Event) {
			if ev.Name == "endpoint" && endpoint == "" {
				endpoint = ev.Data
			}
		})
		if err != nil && endpoint == "" {
			t.Fatalf("no endpoint event: %v", err)
		}
	}
	u, err := url.Parse(sseURL)
	if err == nil {
		u, err = u.Parse(endpoint)
	}
	if err != nil {
		t.Fatal(err)
	}
	post, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Content-Type", "application/json")
	presp, err := http.DefaultClient.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	defer presp.Body.Close()
	b, err := io.ReadAll(presp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return presp.StatusCode, b
}
