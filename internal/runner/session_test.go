package runner

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The tests in this file run calls in Stata sessions (the default for a
// client with an MCP session); the other tests of the package mostly run
// isolated batch runs.

// runResult returns the structured content of a run result.
func runResult(t *testing.T, res *mcp.CallToolResult) RunResult {
	t.Helper()
	var out RunResult
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return out
}

// countRE matches the answer of count in a result.
var countRE = regexp.MustCompile(`(?m)^\. count\n\s*(\d+)\s*$`)

// countIn returns what the last count in txt printed, or "".
func countIn(txt string) string {
	m := countRE.FindAllStringSubmatch(txt, -1)
	if m == nil {
		return ""
	}
	return m[len(m)-1][1]
}

// sel runs code in the session of cs and fails the test on a tool error.
func sel(t *testing.T, cs *mcp.ClientSession, code string) (string, RunResult) {
	t.Helper()
	res := call(t, context.Background(), cs, toolRunSelection, map[string]any{"code": code}, "")
	if res.IsError {
		t.Fatalf("%q: tool error:\n%s", code, text(res))
	}
	return text(res), runResult(t, res)
}

func TestSessionKeepsStateApart(t *testing.T) {
	cfg := testConfig(t)
	_, url := serve(t, cfg, nil)
	a, b := connect(t, url, nil), connect(t, url, nil)
	dir := t.TempDir()

	_, first := sel(t, a, "sysuse auto\nscalar k = 3\nlocal who ana\nglobal where here\ncd \""+dir+"\"")
	txt, second := sel(t, a, "count\ndisplay \"k=\" scalar(k) \" who=`who' where=$where\"\npwd")
	if countIn(txt) != "74" || !strings.Contains(txt, "\nk=3 who=ana where=here\n") || !strings.Contains(txt, "\n"+dir+"\n") {
		t.Errorf("the second call lacks the first one's state:\n%s", txt)
	}
	if strings.Contains(txt, "sysuse") {
		t.Errorf("the second call's output holds the first one's:\n%s", txt)
	}
	if first.SessionPID == 0 || second.SessionPID != first.SessionPID || second.Isolated {
		t.Errorf("pids %d then %d, isolated %v", first.SessionPID, second.SessionPID, second.Isolated)
	}
	txt, other := sel(t, b, "count")
	if countIn(txt) != "0" || other.SessionPID == first.SessionPID {
		t.Errorf("the other MCP session sees %q observations in pid %d (first: %d)", countIn(txt), other.SessionPID, first.SessionPID)
	}
	// An isolated run neither sees nor changes the session.
	res := call(t, context.Background(), a, toolRunSelection, map[string]any{"code": "count\nclear", "isolated": true}, "")
	if out := runResult(t, res); res.IsError || countIn(text(res)) != "0" || !out.Isolated || out.SessionPID != 0 {
		t.Errorf("isolated run: %+v\n%s", out, text(res))
	}
	if txt, _ := sel(t, a, "count"); countIn(txt) != "74" {
		t.Errorf("after the isolated run the session has %q observations", countIn(txt))
	}
}

func TestSessionErrorKeepsSession(t *testing.T) {
	_, url := serve(t, testConfig(t), nil)
	cs := connect(t, url, nil)
	_, first := sel(t, cs, "set obs 5")
	res := call(t, context.Background(), cs, toolRunSelection, map[string]any{"code": "display \"before\"\nerror 459\ndisplay \"after\""}, "")
	out := runResult(t, res)
	if !res.IsError || out.Status != statusStataError || out.ErrorCode != 459 || strings.Contains(text(res), "\nafter\n") ||
		!strings.Contains(text(res), "Stata error r(459)") {
		t.Errorf("error: %+v\n%s", out, text(res))
	}
	if txt, again := sel(t, cs, "count"); countIn(txt) != "5" || again.SessionPID != first.SessionPID {
		t.Errorf("after the error: count %q in pid %d (was %d)", countIn(txt), again.SessionPID, first.SessionPID)
	}
}

func TestSessionInterruptKeepsData(t *testing.T) {
	cfg := testConfig(t)
	_, url := serve(t, cfg, nil)
	pl := newProgressLog()
	cs := connect(t, url, pl)
	_, first := sel(t, cs, "sysuse auto")

	// The time limit interrupts the command.
	res := call(t, context.Background(), cs, toolRunSelection, map[string]any{"code": "display \"zz\"\nsleep 60000", "timeout": 0.5}, "")
	if out := runResult(t, res); !res.IsError || out.Status != statusTimeout || !strings.Contains(text(res), "--Break--") ||
		!strings.Contains(text(res), "keeps its data") {
		t.Errorf("timeout: %+v\n%s", out, text(res))
	}
	if txt, again := sel(t, cs, "count"); countIn(txt) != "74" || again.SessionPID != first.SessionPID {
		t.Errorf("after the timeout: count %q in pid %d (was %d)", countIn(txt), again.SessionPID, first.SessionPID)
	}

	// So does the client's cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleeping := pl.waitFor("c", "sleep 60000")
	errc := make(chan error, 1)
	go func() {
		_, err := callErr(ctx, cs, toolRunSelection, map[string]any{"code": "sleep 60000"}, "c")
		errc <- err
	}()
	select {
	case <-sleeping:
	case <-time.After(10 * time.Second):
		t.Fatal("no progress naming the sleep")
	}
	cancel()
	if err := <-errc; err == nil {
		t.Error("the cancelled call returned no error")
	}
	begin := time.Now()
	if txt, again := sel(t, cs, "count"); countIn(txt) != "74" || again.SessionPID != first.SessionPID {
		t.Errorf("after the cancel: count %q in pid %d (was %d)", countIn(txt), again.SessionPID, first.SessionPID)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("the call after the cancel took %v", d)
	}
}

func TestSessionReplacedWhenBreakFails(t *testing.T) {
	cfg := testConfig(t)
	wrapper, pids := pidWrapper(t)
	cfg.Stata = wrapper
	r, url := serve(t, cfg, nil)
	r.breakGrace = 300 * time.Millisecond
	cs := connect(t, url, nil)
	_, first := sel(t, cs, "set obs 9")
	res := call(t, context.Background(), cs, toolRunSelection, map[string]any{"code": "nobreak sleep 60000", "timeout": 0.3}, "")
	if !res.IsError || !strings.Contains(text(res), "did not come back to its prompt") {
		t.Fatalf("stuck call:\n%s", text(res))
	}
	waitGone(t, pids()) // the session's whole process group
	txt, next := sel(t, cs, "count")
	if next.SessionPID == first.SessionPID || countIn(txt) != "0" || next.SessionNote == "" ||
		!strings.HasPrefix(txt, "This call runs in a new Stata session") || !strings.Contains(txt, "after a Break") {
		t.Errorf("the next call: %+v\n%s", next, txt)
	}
	if txt, _ := sel(t, cs, "count"); strings.Contains(txt, "new Stata session") {
		t.Errorf("the note is repeated:\n%s", txt)
	}
}

func TestSessionLimitIdleAndClose(t *testing.T) {
	cfg := testConfig(t)
	cfg.Sessions = 1
	cfg.SessionIdle = time.Second
	r, url := serve(t, cfg, nil)
	ended := make(chan string, 8)
	r.sessions.hookEnd = func(_ *session, reason string) { ended <- reason }
	a, b := connect(t, url, nil), connect(t, url, nil)

	_, first := sel(t, a, "set obs 2")
	res := call(t, context.Background(), b, toolRunSelection, map[string]any{"code": "display 1"}, "")
	if !res.IsError || !strings.Contains(text(res), "all Stata sessions are in use: 1 of 1") || !strings.Contains(text(res), "isolated: true") {
		t.Errorf("over the limit: %s", text(res))
	}
	select {
	case reason := <-ended:
		if !strings.Contains(reason, "idle") {
			t.Errorf("ended because %q", reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the idle session did not end")
	}
	// b now gets the free place; a's next call is told why its session is new.
	if _, out := sel(t, b, "display 1"); out.SessionPID == 0 {
		t.Errorf("b: %+v", out)
	}
	b.Close() // DELETE: b's session ends
	select {
	case reason := <-ended:
		if !strings.Contains(reason, "MCP session was closed") {
			t.Errorf("ended because %q", reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("closing the MCP session did not end its Stata session")
	}
	txt, next := sel(t, a, "count")
	if next.SessionPID == first.SessionPID || !strings.Contains(txt, "because it was idle for 1s (session_idle)") {
		t.Errorf("a's next call: %+v\n%s", next, txt)
	}
	if h := r.Health(); h.Sessions.Count != 1 || h.Sessions.Max != 1 || h.Status != "ok" {
		t.Errorf("health: %+v", h)
	}
}

func TestSessionCloseStopsCall(t *testing.T) {
	cfg := testConfig(t)
	wrapper, pids := pidWrapper(t)
	cfg.Stata = wrapper
	r, url := serve(t, cfg, nil)
	pl := newProgressLog()
	cs := connect(t, url, pl)
	sleeping := pl.waitFor("c", "sleep 60000")
	resc := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, _ := callErr(context.Background(), cs, toolRunSelection, map[string]any{"code": "display \"started\"\nsleep 60000"}, "c")
		resc <- res
	}()
	select {
	case <-sleeping:
	case <-time.After(10 * time.Second):
		t.Fatal("no progress naming the sleep")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if res := <-resc; res == nil || !res.IsError || !strings.Contains(text(res), "shutting down") {
		t.Errorf("result: %v", res)
	}
	waitGone(t, pids())
}

func TestSessionTool(t *testing.T) {
	_, url := serve(t, testConfig(t), nil)
	cs := connect(t, url, nil)
	list := func() (string, SessionInfo) {
		res := call(t, context.Background(), cs, toolSession, map[string]any{"action": "list", "session_id": "x"}, "")
		var info SessionInfo
		b, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(b, &info)
		if res.IsError {
			t.Fatalf("list: %s", text(res))
		}
		return text(res), info
	}
	if txt, info := list(); info.Running || !strings.Contains(txt, "No Stata session runs") {
		t.Errorf("before any run: %+v %s", info, txt)
	}
	_, first := sel(t, cs, "sysuse auto")
	txt, info := list()
	if !info.Running || info.PID != first.SessionPID || info.Observations == nil || *info.Observations != 74 ||
		!strings.Contains(txt, "74 observations") {
		t.Errorf("after a run: %+v %s", info, txt)
	}
	res := call(t, context.Background(), cs, toolSession, map[string]any{"action": "restart"}, "")
	if res.IsError || !strings.Contains(text(res), "restarted") {
		t.Errorf("restart: %s", text(res))
	}
	if txt, out := sel(t, cs, "count"); countIn(txt) != "0" || out.SessionPID == first.SessionPID || out.SessionNote != "" {
		t.Errorf("after restart: %+v\n%s", out, txt)
	}
	res = call(t, context.Background(), cs, toolSession, map[string]any{"action": "destroy"}, "")
	if res.IsError || !strings.Contains(text(res), "was ended") {
		t.Errorf("destroy: %s", text(res))
	}
	if _, info := list(); info.Running {
		t.Errorf("after destroy: %+v", info)
	}
	res = call(t, context.Background(), cs, toolSession, map[string]any{"action": "explode"}, "")
	if !res.IsError || !strings.Contains(text(res), "list, restart or destroy") {
		t.Errorf("bad action: %s", text(res))
	}
}

func TestSessionGraphs(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxGraphs = 1
	_, url := serve(t, cfg, nil)
	cs := connect(t, url, nil)
	res := call(t, context.Background(), cs, toolRunSelection, map[string]any{"code": "sysuse auto\nscatter price mpg\nhistogram mpg, name(h)"}, "")
	if res.IsError || len(res.Content) != 2 || runResult(t, res).Graphs != 1 {
		t.Fatalf("%d contents:\n%s", len(res.Content), text(res))
	}
	img, ok := res.Content[1].(*mcp.ImageContent)
	if !ok || img.MIMEType != "image/png" || !strings.HasPrefix(string(img.Data), "\x89PNG\r\n\x1a\n") {
		t.Fatalf("second content: %#v", res.Content[1])
	}
}

func TestProgressCountsCommands(t *testing.T) {
	_, url := serve(t, testConfig(t), nil)
	pl := newProgressLog()
	cs := connect(t, url, pl)
	doFile := writeDo(t, t.TempDir(), "four.do", "* four commands\ndisplay \"one\"\nsleep 300\ndisplay ///\n \"two\"\nsleep 300\n")
	res := call(t, context.Background(), cs, toolRunFile, map[string]any{"file_path": doFile}, "p")
	if res.IsError {
		t.Fatal(text(res))
	}
	ps := pl.get("p")
	var sawSecond bool
	for i, p := range ps {
		if p.Total != 4 || p.Progress >= 4 || (i > 0 && p.Progress <= ps[i-1].Progress) {
			t.Fatalf("notification %d: progress %v of %v (before: %+v)", i, p.Progress, p.Total, ps[:i])
		}
		if p.Message == "line 4/4: sleep 300 (last output: two)" {
			sawSecond = true
		}
	}
	if !sawSecond {
		var msgs []string
		for _, p := range ps {
			msgs = append(msgs, p.Message)
		}
		t.Errorf("no message for the last sleep:\n%s", strings.Join(msgs, "\n"))
	}
}

func TestHealthStatus(t *testing.T) {
	get := func(url string) (int, Health) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h Health
		_ = json.NewDecoder(resp.Body).Decode(&h)
		return resp.StatusCode, h
	}
	cfg := testConfig(t)
	cfg.Stata = writeDo(t, t.TempDir(), "stata", "#!/bin/sh\necho 'licence expired'\nexit 1\n")
	if err := os.Chmod(cfg.Stata, 0o755); err != nil {
		t.Fatal(err)
	}
	_, url := serve(t, cfg, nil)
	if code, h := get(url); code != http.StatusServiceUnavailable || h.Status != "error" ||
		!strings.Contains(h.Error, "fails to start") || !strings.Contains(h.Error, "licence expired") {
		t.Errorf("broken stata: %d %+v", code, h)
	}
	cfg = testConfig(t)
	cfg.Stata = cfg.Stata + "-missing"
	_, url = serve(t, cfg, nil)
	if code, h := get(url); code != http.StatusServiceUnavailable || h.Status != "error" || !strings.Contains(h.Error, cfg.Stata) {
		t.Errorf("missing stata: %d %+v", code, h)
	}
}

func TestParseErrorIsJSONRPC(t *testing.T) {
	_, url := serve(t, testConfig(t), nil)
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc": "2.0", oops`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(string(b), `"code":-32700`) || strings.Contains(string(b), "oops") {
		t.Errorf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

// TestSessionEndsWhenMCPSessionExpires lets an MCP session expire (the
// transport's SessionTimeout): its Stata session ends with it.
func TestSessionEndsWhenMCPSessionExpires(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionTimeout = 700 * time.Millisecond
	r, url := serve(t, cfg, nil)
	ended := make(chan string, 1)
	r.sessions.hookEnd = func(_ *session, reason string) { ended <- reason }
	cs := connect(t, url, nil)
	sel(t, cs, "set obs 1")
	select {
	case reason := <-ended:
		if !strings.Contains(reason, "MCP session was closed") {
			t.Errorf("ended because %q", reason)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the Stata session outlived its expired MCP session")
	}
	if h := r.Health(); h.Sessions.Count != 0 {
		t.Errorf("health: %+v", h.Sessions)
	}
}
