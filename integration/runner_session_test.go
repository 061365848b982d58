package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A sessionStep is one call of integration/ts/session.mjs.
type sessionStep struct {
	Tool         string         `json:"tool"`
	Args         map[string]any `json:"args"`
	AbortAfterMs int            `json:"abortAfterMs,omitempty"`
	TimeoutMs    int            `json:"timeoutMs,omitempty"`
	Progress     bool           `json:"progress,omitempty"`
}

// selection is a step that runs code with stata_run_selection.
func selection(code string) sessionStep {
	return sessionStep{Tool: "stata_run_selection", Args: map[string]any{"selection": code}}
}

// stepResult is what the TypeScript client saw of one step.
type stepResult struct {
	OK        bool   `json:"ok"`
	Error     string `json:"error"`
	ElapsedMs int    `json:"elapsedMs"`
	Result    struct {
		Content []struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			Data     string `json:"data"`
			MimeType string `json:"mimeType"`
		} `json:"content"`
		IsError    bool `json:"isError"`
		Structured struct {
			Status      string `json:"status"`
			SessionPID  int    `json:"session_pid"`
			SessionNote string `json:"session_note"`
			Graphs      int    `json:"graphs"`
			Isolated    bool   `json:"isolated"`
		} `json:"structuredContent"`
	} `json:"result"`
	Progress []progressEvent `json:"progress"`
}

// Text returns the step's first text content.
func (r stepResult) Text() string {
	for _, c := range r.Result.Content {
		if c.Type == "text" {
			return c.Text
		}
	}
	return ""
}

// sessionCalls makes the steps one after another in one MCP session with
// the TypeScript SDK client, ending the session with DELETE when terminate.
func sessionCalls(t *testing.T, url string, terminate bool, steps ...sessionStep) []stepResult {
	t.Helper()
	arg, _ := json.Marshal(map[string]any{"url": url, "steps": steps, "terminate": terminate})
	cmd := exec.Command("node", filepath.Join(tsDir, "session.mjs"), string(arg))
	var errs lockedBuffer
	cmd.Stderr = &errs
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("session.mjs: %v\n%s", err, errs.String())
	}
	var res struct {
		ConnectError   string       `json:"connectError"`
		TerminateError string       `json:"terminateError"`
		Results        []stepResult `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("session.mjs output %q: %v\n%s", out, err, errs.String())
	}
	if res.ConnectError != "" || res.TerminateError != "" || len(res.Results) != len(steps) {
		t.Fatalf("session.mjs: connect %q, terminate %q, %d results\n%s", res.ConnectError, res.TerminateError,
			len(res.Results), errs.String())
	}
	return res.Results
}

// mustRun fails the test unless the step ran without error.
func mustRun(t *testing.T, name string, r stepResult) {
	t.Helper()
	if !r.OK || r.Result.IsError {
		t.Fatalf("%s: ok=%v error=%q isError=%v\n%s", name, r.OK, r.Error, r.Result.IsError, r.Text())
	}
}

// countRE matches the answer of count: the number alone on its line.
var countRE = regexp.MustCompile(`(?m)^\. count\n\s*([0-9,]+)\s*$`)

// counted returns the number the last count of a result printed, or -1.
func counted(txt string) int {
	m := countRE.FindAllStringSubmatch(txt, -1)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[len(m)-1][1], ",", ""))
	if err != nil {
		return -1
	}
	return n
}

// TestStataSessionKeepsState runs calls in two MCP sessions: data, a scalar,
// a local and the current directory set by one call are there for the next call of
// the same session, in the same Stata process, and not in the other
// session's, which has a Stata of its own.
func TestStataSessionKeepsState(t *testing.T) {
	c := startStata(t, standin, "")
	dir := t.TempDir()
	a := sessionCalls(t, c.URL+"/mcp", false,
		selection("clear\nset obs 7\ngenerate x = _n\nscalar answer = 42\nlocal who ana\ncd \""+dir+"\""),
		selection("count\ndisplay \"answer is \" scalar(answer) \" from `who'\"\npwd"),
		sessionStep{Tool: "stata_session", Args: map[string]any{"action": "list"}},
	)
	mustRun(t, "first call", a[0])
	mustRun(t, "second call", a[1])
	if n := counted(a[1].Text()); n != 7 || !strings.Contains(a[1].Text(), "answer is 42 from ana") ||
		!strings.Contains(a[1].Text(), "\n"+dir+"\n") {
		t.Fatalf("the second call does not see the first one's state (count %d):\n%s", n, a[1].Text())
	}
	if strings.Contains(a[1].Text(), "set obs 7") {
		t.Errorf("the second call's result carries the first one's output:\n%s", a[1].Text())
	}
	pid := a[0].Result.Structured.SessionPID
	if pid == 0 || a[1].Result.Structured.SessionPID != pid {
		t.Fatalf("session pids %d and %d, want one Stata", pid, a[1].Result.Structured.SessionPID)
	}
	mustRun(t, "stata_session list", a[2])
	if list := a[2].Text(); !strings.Contains(list, fmt.Sprintf("pid %d", pid)) || !strings.Contains(list, "7 observations, 1 variables") {
		t.Errorf("stata_session list:\n%s", list)
	}

	b := sessionCalls(t, c.URL+"/mcp", false, selection("count\ndisplay \"answer is \" scalar(answer)"))
	if b[0].Result.Structured.SessionPID == pid || b[0].Result.Structured.SessionPID == 0 {
		t.Fatalf("the other session ran in Stata pid %d (first session's: %d)", b[0].Result.Structured.SessionPID, pid)
	}
	if n := counted(b[0].Text()); n != 0 || strings.Contains(b[0].Text(), "answer is 42") {
		t.Fatalf("the other session sees the first one's state (count %d):\n%s", n, b[0].Text())
	}
	if h := health(t, c.URL+"/mcp"); h.Sessions.Count != 2 {
		t.Errorf("health lists %d sessions, want 2: %+v", h.Sessions.Count, h)
	}
}

// TestStataSessionInterrupts interrupts a long command of a session with the
// client's cancellation and with the call's timeout: each time Stata stops
// at the Break and the next call finds the data still loaded, in the same
// Stata process.
func TestStataSessionInterrupts(t *testing.T) {
	c := startStata(t, standin, "")
	for name, long := range map[string]sessionStep{
		"cancel":  {Tool: "stata_run_selection", Args: map[string]any{"selection": "display \"sleeping\"\nsleep 60000"}, AbortAfterMs: 3000},
		"timeout": {Tool: "stata_run_selection", Args: map[string]any{"selection": "display \"sleeping\"\nsleep 60000", "timeout": 3}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := sessionCalls(t, c.URL+"/mcp", false, selection("sysuse auto\ncount"), long, selection("count"))
			mustRun(t, "load", r[0])
			if name == "cancel" {
				if r[1].OK || !strings.Contains(r[1].Error, "aborted") {
					t.Fatalf("the aborted call: ok=%v %q", r[1].OK, r[1].Error)
				}
			} else {
				txt := r[1].Text()
				if !r[1].OK || !r[1].Result.IsError || r[1].Result.Structured.Status != "timeout" ||
					!strings.Contains(txt, "Timed out") || !strings.Contains(txt, "keeps its data") ||
					!strings.Contains(txt, "--Break--") || !strings.Contains(txt, "\nsleeping\n") {
					t.Fatalf("the timed-out call: ok=%v isError=%v %+v\n%s", r[1].OK, r[1].Result.IsError, r[1].Result.Structured, txt)
				}
			}
			mustRun(t, "count after", r[2])
			if n := counted(r[2].Text()); n != 74 {
				t.Fatalf("after the interrupt the data is gone (count %d):\n%s", n, r[2].Text())
			}
			if r[2].Result.Structured.SessionPID != r[0].Result.Structured.SessionPID || r[2].Result.Structured.SessionNote != "" {
				t.Fatalf("a new session after the interrupt: pids %d then %d, note %q", r[0].Result.Structured.SessionPID,
					r[2].Result.Structured.SessionPID, r[2].Result.Structured.SessionNote)
			}
			if d := time.Since(start); d > 40*time.Second {
				t.Errorf("the calls took %v: the sleep of 60 s was not interrupted", d)
			}
		})
	}
}

// TestStataSessionReplaced runs a command that Break cannot interrupt past
// its timeout: the session is ended (its process gone) and the next call
// runs in a new one, and says so.
func TestStataSessionReplaced(t *testing.T) {
	c := startStata(t, standin, "")
	r := sessionCalls(t, c.URL+"/mcp", false,
		selection("sysuse auto"),
		sessionStep{Tool: "stata_run_selection", Args: map[string]any{"selection": "nobreak sleep 60000", "timeout": 2}},
		selection("count"),
	)
	mustRun(t, "load", r[0])
	old := r[0].Result.Structured.SessionPID
	if txt := r[1].Text(); !r[1].OK || !r[1].Result.IsError || !strings.Contains(txt, "did not come back to its prompt") {
		t.Fatalf("the stuck call: ok=%v isError=%v\n%s", r[1].OK, r[1].Result.IsError, txt)
	}
	mustRun(t, "next call", r[2])
	txt := r[2].Text()
	if !strings.HasPrefix(txt, "This call runs in a new Stata session") || !strings.Contains(txt, fmt.Sprintf("pid %d", old)) ||
		r[2].Result.Structured.SessionNote == "" {
		t.Fatalf("the next call does not say its session is new:\n%s", txt)
	}
	if pid := r[2].Result.Structured.SessionPID; pid == old || pid == 0 {
		t.Fatalf("the next call ran in pid %d, the old session's was %d", pid, old)
	}
	if n := counted(txt); n != 0 {
		t.Errorf("the new session has data (count %d)", n)
	}
	waitGone(t, []int{old})
}

// startRunner runs caddy-stata with stata_runner alone, the stand-in as
// Stata, with the given extra subdirectives; its URL is the runner's site.
func startRunner(t *testing.T, runnerOptions string) *caddy {
	t.Helper()
	return startCaddy(t, "", fmt.Sprintf(`
	stata_runner /mcp {
		stata %s
		work_dir %s
		%s
	}`, standin, t.TempDir(), runnerOptions))
}

// TestStataSessionProgress runs a do-file of 20 commands, with comments, a
// continuation and blank lines, and checks its progress: the total is 20,
// progress strictly increases and stays below it, and the messages name the
// command running and the last output before it. The client talks to the
// runner straight: mcp_keepalive in front would add progress of its own
// while the call begins.
func TestStataSessionProgress(t *testing.T) {
	c := startRunner(t, "")
	var src strings.Builder
	src.WriteString("* twenty commands\n\n")
	for i := 1; i <= 10; i++ {
		if i == 5 {
			src.WriteString("display ///\n    \"step 5\" // the fifth\n")
		} else {
			fmt.Fprintf(&src, "display \"step %d\"\n", i)
		}
		src.WriteString("sleep 900\n\n")
	}
	doFile := writeDo(t, "twenty.do", src.String())
	r := sessionCalls(t, c.URL+"/mcp", false,
		sessionStep{Tool: "stata_run_file", Args: map[string]any{"file_path": doFile, "session_id": "default"}, Progress: true})
	mustRun(t, "run", r[0])
	ps := r[0].Progress
	assertIncreasing(t, ps, 4)
	lineRE := regexp.MustCompile(`^line (\d+)/20: sleep 900 \(last output: step (\d+)\)$`)
	var named int
	lastLine := 0
	for _, p := range ps {
		if p.Total == nil || *p.Total != 20 || p.Progress >= 20 {
			t.Fatalf("progress %v of total %v; want a total of 20, not reached", p.Progress, p.Total)
		}
		if p.Message == nil {
			continue
		}
		if m := lineRE.FindStringSubmatch(*p.Message); m != nil {
			n, _ := strconv.Atoi(m[1])
			step, _ := strconv.Atoi(m[2])
			if n != 2*step || n < lastLine {
				t.Errorf("message %q: line %d after step %d (earlier line %d)", *p.Message, n, step, lastLine)
			}
			lastLine = n
			named++
		}
	}
	if named < 3 || lastLine < 10 {
		t.Fatalf("%d messages name the command (last at line %d): %+v", named, lastLine, ps)
	}
}

// TestStataSessionProgressThroughKeepAlive runs the same kind of 20-command
// do-file with mcp_keepalive in front, ticking every second while the runner
// reports every 2 seconds, so that mcp_keepalive invents progress between the
// runner's: every notification the client sees keeps the runner's total of
// 20, stays below it and increases strictly, and the invented ones carry the
// runner's last message.
func TestStataSessionProgressThroughKeepAlive(t *testing.T) {
	c := startStata(t, standin, "")
	var src strings.Builder
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&src, "display \"step %d\"\nsleep 900\n", i)
	}
	doFile := writeDo(t, "twenty.do", src.String())
	r := sessionCalls(t, c.URL+"/mcp", false,
		sessionStep{Tool: "stata_run_file", Args: map[string]any{"file_path": doFile}, Progress: true})
	mustRun(t, "run", r[0])
	ps := r[0].Progress
	assertIncreasing(t, ps, 4)
	invented := 0
	for _, p := range ps {
		if p.Total == nil || *p.Total != 20 || p.Progress >= 20 {
			t.Fatalf("progress %v of total %v; want a total of 20, not reached: %+v", p.Progress, p.Total, ps)
		}
		if p.Message != nil && strings.HasPrefix(*p.Message, "stata_run_file: running for ") {
			if !strings.Contains(*p.Message, " (last progress: ") {
				t.Errorf("invented progress %q does not carry the runner's last message", *p.Message)
			}
			invented++
		}
	}
	if invented == 0 {
		t.Fatalf("no invented progress between the runner's (interval 1s against 2s): %+v", ps)
	}
}

// pngSignature starts every PNG file.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// TestStataSessionGraphs draws graphs in a session: each comes back as a PNG
// image content after the text, named graphs too, at most max_graphs; with
// graphs off none comes back.
func TestStataSessionGraphs(t *testing.T) {
	code := "sysuse auto\nscatter price mpg, name(prices)\nscatter weight mpg, name(weights)\nhistogram mpg"
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		c := startStata(t, standin, "max_graphs 2")
		r := sessionCalls(t, c.URL+"/mcp", false, selection(code), selection("display \"no graph\""))
		mustRun(t, "graphs", r[0])
		content := r[0].Result.Content
		if len(content) != 3 || content[0].Type != "text" || r[0].Result.Structured.Graphs != 2 {
			t.Fatalf("content %d parts, graphs %d; want the text and 2 images (max_graphs 2)", len(content), r[0].Result.Structured.Graphs)
		}
		for _, img := range content[1:] {
			png, err := base64.StdEncoding.DecodeString(img.Data)
			if img.Type != "image" || img.MimeType != "image/png" || err != nil || !bytes.HasPrefix(png, pngSignature) {
				t.Fatalf("image content: type %q, mime %q, %d bytes, %v", img.Type, img.MimeType, len(png), err)
			}
		}
		mustRun(t, "no graph", r[1])
		if len(r[1].Result.Content) != 1 {
			t.Fatalf("a call that draws nothing returned %d contents (graphs are dropped after each call)", len(r[1].Result.Content))
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		c := startStata(t, standin, "graphs off")
		r := sessionCalls(t, c.URL+"/mcp", false, selection(code))
		mustRun(t, "graphs off", r[0])
		if len(r[0].Result.Content) != 1 || r[0].Result.Structured.Graphs != 0 {
			t.Fatalf("graphs off: %d contents", len(r[0].Result.Content))
		}
	})
}

// TestStataSessionEndsWithMCPSession ends an MCP session with DELETE: its
// Stata session ends, its process goes and the health report lists no
// session.
func TestStataSessionEndsWithMCPSession(t *testing.T) {
	c := startStata(t, standin, "")
	r := sessionCalls(t, c.URL+"/mcp", true, selection("set obs 3"))
	mustRun(t, "call", r[0])
	pid := r[0].Result.Structured.SessionPID
	if pid == 0 {
		t.Fatal("no session pid")
	}
	waitGone(t, []int{pid})
	if h := health(t, c.URL+"/mcp"); h.Sessions.Count != 0 {
		t.Errorf("health lists %d sessions after DELETE", h.Sessions.Count)
	}
}

// runnerHealth is the runner's health report.
type runnerHealth struct {
	Status   string `json:"status"`
	Stata    string `json:"stata"`
	Error    string `json:"error"`
	Sessions struct {
		Count      int     `json:"count"`
		Max        int     `json:"max"`
		OldestIdle float64 `json:"oldest_idle_seconds"`
	} `json:"sessions"`
	code int
}

// health asks the runner at url for its health.
func health(t *testing.T, url string) runnerHealth {
	t.Helper()
	var h runnerHealth
	h.code, _ = healthReport(t, url, &h)
	return h
}

// TestStataHealthError checks that the health report answers 503 with
// status error, naming the problem, when the Stata executable is missing
// and when it fails to start, and ok with the sessions when it starts.
func TestStataHealthError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "stata-mp")
	broken := filepath.Join(t.TempDir(), "stata-broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'no licence for this machine' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		stata string
		want  []string
	}{
		"missing":        {missing, []string{missing, "not found"}},
		"fails to start": {broken, []string{broken, "fails to start", "no licence for this machine"}},
		"ok":             {standin, nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := startStata(t, tc.stata, "sessions 3")
			h := health(t, c.URL+"/mcp")
			if tc.want == nil {
				if h.code != http.StatusOK || h.Status != "ok" || h.Error != "" || h.Sessions.Max != 3 || h.Sessions.Count != 0 {
					t.Fatalf("health %d %+v", h.code, h)
				}
				return
			}
			if h.code != http.StatusServiceUnavailable || h.Status != "error" {
				t.Fatalf("health %d %+v; want 503 and status error", h.code, h)
			}
			for _, w := range tc.want {
				if !strings.Contains(h.Error, w) {
					t.Errorf("health error %q lacks %q", h.Error, w)
				}
			}
		})
	}
}

// TestStataRunnerParseError posts a body that is not JSON to the runner: the
// answer is a JSON-RPC parse error, not an echo of the input.
func TestStataRunnerParseError(t *testing.T) {
	c := startStata(t, standin, "")
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call",<script>alert(1)</script>`
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var msg struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &msg); err != nil || resp.StatusCode != http.StatusBadRequest ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		msg.JSONRPC != "2.0" || string(msg.ID) != "null" || msg.Error.Code != -32700 {
		t.Fatalf("%d %s: %s (%v)", resp.StatusCode, resp.Header.Get("Content-Type"), b, err)
	}
	if strings.Contains(string(b), "script") {
		t.Errorf("the answer echoes the input: %s", b)
	}
}

// waitSessions waits until the runner's health lists n sessions; a session
// is listed until its process is gone and its directory removed.
func waitSessions(t *testing.T, url string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		h := health(t, url)
		if h.Sessions.Count == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health lists %d sessions, want %d", h.Sessions.Count, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStataSessionLeavesNoFiles runs 20 calls in one session, then ends the
// MCP session: work_dir is as it was before.
func TestStataSessionLeavesNoFiles(t *testing.T) {
	workDir := t.TempDir()
	c := startStataIn(t, standin, workDir, "")
	before := listing(t, workDir, false)
	var steps []sessionStep
	for i := range 20 {
		steps = append(steps, selection(fmt.Sprintf("display \"call %d\"", i)))
	}
	r := sessionCalls(t, c.URL+"/mcp", true, steps...)
	for i, res := range r {
		mustRun(t, fmt.Sprintf("call %d", i), res)
		if !strings.Contains(res.Text(), fmt.Sprintf("\ncall %d\n", i)) {
			t.Fatalf("call %d:\n%s", i, res.Text())
		}
	}
	waitSessions(t, c.URL+"/mcp", 0)
	if after := listing(t, workDir, false); after != before {
		t.Errorf("work_dir changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
