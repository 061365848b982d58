package runner

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestRunFileSuccess(t *testing.T) {
	cfg := testConfig(t)
	_, url := serve(t, cfg, nil)
	cs := connect(t, url, nil)
	dir := t.TempDir()
	doFile := writeDo(t, dir, "hello.do", "display \"hello from stata\"\n")

	res := call(t, context.Background(), cs, toolRunFile, map[string]any{"isolated": true, "file_path": doFile}, "")
	txt := text(res)
	if res.IsError {
		t.Fatalf("IsError; text:\n%s", txt)
	}
	for _, want := range []string{
		"without error",
		"exit status: exit status 0",
		"duration: ",
		"log: " + cfg.WorkDir + "/call-",
		"/run.log (removed now",
		". cd \"" + dir + "\"\n" + dir + "\n",
		". do \"" + doFile + "\"\n",
		". display \"hello from stata\"\nhello from stata\n",
		"end of do-file",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("result lacks %q:\n%s", want, txt)
		}
	}
	var out RunResult
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	if out.Status != statusOK || !strings.HasPrefix(out.LogPath, cfg.WorkDir+"/call-") || !out.LogRemoved ||
		out.ExitStatus != "exit status 0" {
		t.Errorf("structured content = %+v", out)
	}
	// Nothing is left beside the do-file, nor in the work directory.
	assertEntries(t, dir, "hello.do")
	assertEntries(t, cfg.WorkDir)
}

// assertEntries checks that dir holds exactly the entries named.
func assertEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// TestRunSelectionStataMCPName checks that the argument may be named
// selection, as stata-mcp names it, and that two different codes are refused.
func TestRunSelectionStataMCPName(t *testing.T) {
	cfg := testConfig(t)
	_, url := serve(t, cfg, nil)
	cs := connect(t, url, nil)
	res := call(t, context.Background(), cs, toolRunSelection, map[string]any{"selection": "display \"via selection\""}, "")
	if res.IsError || !strings.Contains(text(res), "\nvia selection\n") {
		t.Fatalf("selection: %s", text(res))
	}
	res = call(t, context.Background(), cs, toolRunSelection, map[string]any{"code": "display 1", "selection": "display 2"}, "")
	if !res.IsError || !strings.Contains(text(res), "give one") {
		t.Fatalf("both: %s", text(res))
	}
	res = call(t, context.Background(), cs, toolRunSelection, map[string]any{}, "")
	if !res.IsError || !strings.Contains(text(res), "code is required") {
		t.Fatalf("neither: %s", text(res))
	}
}

func TestRunSelectionSuccess(t *testing.T) {
	cfg := testConfig(t)
	_, url := serve(t, cfg, nil)
	cs := connect(t, url, nil)
	wd := t.TempDir()

	res := call(t, context.Background(), cs, toolRunSelection, map[string]any{
		"code":        "* a comment\ndisplay \"sel\" 42",
		"working_dir": wd,
		"isolated":    true,
	}, "")
	txt := text(res)
	if res.IsError {
		t.Fatalf("IsError; text:\n%s", txt)
	}
	if !strings.Contains(txt, "\nsel42\n") {
		t.Errorf("result lacks the display output:\n%s", txt)
	}
	// The code runs in the working directory; the log and the do-file are
	// in the call's directory in the work directory, removed after the call.
	if !strings.Contains(txt, "log: "+cfg.WorkDir+"/call-") {
		t.Errorf("log not in work_dir %s:\n%s", cfg.WorkDir, txt)
	}
	if !strings.Contains(txt, ". cd \""+wd+"\"\n") || !strings.Contains(txt, "/selection.do\"\n") {
		t.Errorf("the wrapper did not cd to %s and run selection.do:\n%s", wd, txt)
	}
	assertEntries(t, wd)
	assertEntries(t, cfg.WorkDir)
}

func TestProgressCarriesLogLines(t *testing.T) {
	_, url := serve(t, testConfig(t), nil)
	pl := newProgressLog()
	cs := connect(t, url, pl)
	doFile := writeDo(t, t.TempDir(), "steps.do",
		"display \"step one\"\nsleep 400\ndisplay \"step two\"\nsleep 400\n")

	res := call(t, context.Background(), cs, toolRunFile, map[string]any{"isolated": true, "file_path": doFile}, "tok")
	if res.IsError {
		t.Fatalf("IsError:\n%s", text(res))
	}
	ps := pl.get("tok")
	if len(ps) < 3 {
		t.Fatalf("got %d progress notifications, want several", len(ps))
	}
	var msgs []string
	for i, p := range ps {
		msgs = append(msgs, p.Message)
		if i > 0 && p.Progress <= ps[i-1].Progress {
			t.Errorf("progress %d: %v after %v: not strictly increasing", i, p.Progress, ps[i-1].Progress)
		}
	}
	joined := strings.Join(msgs, "\n")
	// While Stata sleeps, the latest log line is the echo of the sleep.
	for _, want := range []string{"started: ", ". sleep 400"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no progress message with %q; messages:\n%s", want, joined)
		}
	}
}

func TestStataErrorIsToolError(t *testing.T) {
	_, url := serve(t, testConfig(t), nil)
	cs := connect(t, url, nil)
	doFile := writeDo(t, t.TempDir(), "bad.do", "display \"before\"\nerror 198\ndisplay \"after\"\n")

	res := call(t, context.Background(), cs, toolRunFile, map[string]any{"isolated": true, "file_path": doFile}, "")
	txt := text(res)
	if !res.IsError {
		t.Fatalf("not IsError:\n%s", txt)
	}
	for _, want := range []string{"Stata error r(198)", "invalid syntax\nr(198);", "exit status: exit status 0"} {
		if !strings.Contains(txt, want) {
			t.Errorf("result lacks %q:\n%s", want, txt)
		}
	}
	if strings.Contains(txt, "\nafter\n") {
		t.Errorf("the do-file ran on after the error:\n%s", txt)
	}
	var out RunResult
	b, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(b, &out)
	if out.Status != statusStataError || out.ErrorCode != 198 {
		t.Errorf("structured content = %+v", out)
	}
}

func TestArgumentErrorsAreToolErrors(t *testing.T) {
	_, url := serve(t, testConfig(t), nil)
	cs := connect(t, url, nil)
	dir := t.TempDir()
	tests := []struct {
		name string
		tool string
		args map[string]any
		want string
	}{
		{"missing file", toolRunFile, map[string]any{"file_path": filepath.Join(dir, "nope.do")}, "do-file not found: " + filepath.Join(dir, "nope.do")},
		{"relative file", toolRunFile, map[string]any{"file_path": "nope.do"}, "is relative"},
		{"directory", toolRunFile, map[string]any{"file_path": dir}, "is a directory"},
		{"no file_path", toolRunFile, map[string]any{}, "file_path"},
		{"bad working_dir", toolRunFile, map[string]any{"file_path": "x.do", "working_dir": filepath.Join(dir, "none")}, "working_dir not found"},
		{"negative timeout", toolRunSelection, map[string]any{"code": "display 1", "timeout": -1}, "timeout must be a positive number"},
		{"empty code", toolRunSelection, map[string]any{"code": "  "}, "code is required"},
		{"wrong type", toolRunSelection, map[string]any{"code": 42}, "code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, context.Background(), cs, tt.tool, tt.args, "")
			if !res.IsError || !strings.Contains(text(res), tt.want) {
				t.Errorf("IsError=%v, text %q; want a tool error with %q", res.IsError, text(res), tt.want)
			}
		})
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	cfg := testConfig(t)
	wrapper, pids := pidWrapper(t)
	cfg.Stata = wrapper
	_, url := serve(t, cfg, nil)
	cs := connect(t, url, nil)
	doFile := writeDo(t, t.TempDir(), "long.do", "display \"started\"\nsleep 60000\ndisplay \"never\"\n")

	begin := time.Now()
	res := call(t, context.Background(), cs, toolRunFile, map[string]any{"isolated": true, "file_path": doFile, "timeout": 0.5}, "")
	txt := text(res)
	if !res.IsError {
		t.Fatalf("not IsError:\n%s", txt)
	}
	for _, want := range []string{"Timed out", "time limit of 500ms", "log so far", "\nstarted\n", ". sleep 60000"} {
		if !strings.Contains(txt, want) {
			t.Errorf("result lacks %q:\n%s", want, txt)
		}
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("the call took %s", d)
	}
	got := pids()
	if len(got) != 2 {
		t.Fatalf("pids %v, want the stand-in's and its background sleep's", got)
	}
	waitGone(t, got)
}

func TestCancelKillsProcessGroup(t *testing.T) {
	cfg := testConfig(t)
	wrapper, pids := pidWrapper(t)
	cfg.Stata = wrapper
	done := make(chan outcome, 1)
	_, url := serve(t, cfg, func(_ job, o outcome) { done <- o })
	pl := newProgressLog()
	cs := connect(t, url, pl)
	doFile := writeDo(t, t.TempDir(), "long.do", "display \"started\"\nsleep 60000\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleeping := pl.waitFor("c", ". sleep 60000")
	errc := make(chan error, 1)
	go func() {
		_, err := callErr(ctx, cs, toolRunFile, map[string]any{"isolated": true, "file_path": doFile}, "c")
		errc <- err
	}()
	select {
	case <-sleeping:
	case <-time.After(10 * time.Second):
		t.Fatal("no progress showing the sleep")
	}
	cancel() // the client sends notifications/cancelled
	if err := <-errc; err == nil {
		t.Error("CallTool returned no error after its context was cancelled")
	}
	var o outcome
	select {
	case o = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not stop after the cancellation")
	}
	if o.status != statusCancelled || !strings.Contains(o.reason, "cancelled") {
		t.Errorf("outcome %s: %s", o.status, o.reason)
	}
	if !strings.Contains(o.log.Text, "\nstarted\n") {
		t.Errorf("outcome lacks the log so far: %q", o.log.Text)
	}
	res, _ := formatResult(o, "x.log", doFile, time.Time{})
	if !res.IsError || !strings.Contains(text(res), "Cancelled: the call was cancelled") {
		t.Errorf("result %q", text(res))
	}
	waitGone(t, pids())
}

func TestCloseStopsRunsAndAnswers(t *testing.T) {
	cfg := testConfig(t)
	wrapper, pids := pidWrapper(t)
	cfg.Stata = wrapper
	r, url := serve(t, cfg, nil)
	pl := newProgressLog()
	cs := connect(t, url, pl)
	doFile := writeDo(t, t.TempDir(), "long.do", "display \"started\"\nsleep 60000\n")

	sleeping := pl.waitFor("c", ". sleep 60000")
	resc := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, err := callErr(context.Background(), cs, toolRunFile, map[string]any{"isolated": true, "file_path": doFile}, "c")
		if err != nil {
			t.Errorf("CallTool: %v", err)
		}
		resc <- res
	}()
	<-sleeping
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	res := <-resc
	if res == nil {
		t.Fatal("no result")
	}
	txt := text(res)
	if !res.IsError || !strings.Contains(txt, "the server is shutting down") || !strings.Contains(txt, "\nstarted\n") {
		t.Errorf("IsError=%v, text:\n%s", res.IsError, txt)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	waitGone(t, pids())
	if h := r.Health(); h.Status != "closed" || h.Busy != 0 {
		t.Errorf("health after Close: %+v", h)
	}
}

func TestWorkersRunOneAfterAnother(t *testing.T) {
	cfg := testConfig(t)
	cfg.Workers = 1
	var mu sync.Mutex
	var runs []outcome
	_, url := serve(t, cfg, func(_ job, o outcome) {
		mu.Lock()
		runs = append(runs, o)
		mu.Unlock()
	})
	pl := newProgressLog()
	cs := connect(t, url, pl)
	dir := t.TempDir()
	files := map[string]string{
		"a": writeDo(t, dir, "a.do", "display \"a\"\nsleep 1500\n"),
		"b": writeDo(t, dir, "b.do", "display \"b\"\nsleep 100\n"),
		"c": writeDo(t, dir, "c.do", "display \"c\"\nsleep 100\n"),
	}
	var wg sync.WaitGroup
	results := make(map[string]*mcp.CallToolResult)
	start := func(tok string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := callErr(context.Background(), cs, toolRunFile, map[string]any{"isolated": true, "file_path": files[tok]}, tok)
			if err != nil {
				t.Errorf("%s: %v", tok, err)
				return
			}
			mu.Lock()
			results[tok] = res
			mu.Unlock()
		}()
	}
	// a takes the worker; b queues first in line; c queues behind b.
	start("a")
	<-pl.waitFor("a", "started: ")
	start("b")
	<-pl.waitFor("b", "queued: 0 calls ahead")
	start("c")
	<-pl.waitFor("c", "queued: 1 call ahead")
	wg.Wait()

	for tok, res := range results {
		if res.IsError {
			t.Errorf("%s: IsError:\n%s", tok, text(res))
		}
	}
	if len(runs) != 3 {
		t.Fatalf("%d runs, want 3", len(runs))
	}
	for i := 1; i < len(runs); i++ {
		prevEnd := runs[i-1].started.Add(runs[i-1].duration)
		if runs[i].started.Before(prevEnd) {
			t.Errorf("run %d started at %s, before run %d ended at %s", i, runs[i].started, i-1, prevEnd)
		}
	}
	for i, want := range []string{"a", "b", "c"} {
		if !strings.Contains(runs[i].log.Text, "\n"+want+"\n") {
			t.Errorf("run %d is not %s:\n%s", i, want, runs[i].log.Text)
		}
	}
	if ps := pl.get("b"); ps[0].Message != "queued: 0 calls ahead (1 of 1 Stata workers busy)" {
		t.Errorf("b's first progress: %q", ps[0].Message)
	}
}

func TestQueueFullIsToolError(t *testing.T) {
	cfg := testConfig(t)
	cfg.Workers = 1
	cfg.Queue = 1
	done := make(chan outcome, 2)
	_, url := serve(t, cfg, func(_ job, o outcome) { done <- o })
	pl := newProgressLog()
	cs := connect(t, url, pl)
	doFile := writeDo(t, t.TempDir(), "long.do", "sleep 60000\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	errs := make(chan error, 2)
	go func() {
		_, err := callErr(ctx, cs, toolRunFile, map[string]any{"isolated": true, "file_path": doFile}, "a")
		errs <- err
	}()
	<-pl.waitFor("a", "started: ")
	go func() {
		_, err := callErr(ctx, cs, toolRunSelection, map[string]any{"isolated": true, "code": "display 1"}, "b")
		errs <- err
	}()
	<-pl.waitFor("b", "queued: 0 calls ahead")

	res := call(t, context.Background(), cs, toolRunSelection, map[string]any{"isolated": true, "code": "display 1"}, "")
	if !res.IsError || !strings.Contains(text(res), "queue is full") {
		t.Errorf("third call: IsError=%v, text %q; want a queue-full tool error", res.IsError, text(res))
	}
	cancel()
	<-errs
	<-errs
	if o := <-done; o.status != statusCancelled {
		t.Errorf("first call's run: %s", o.status)
	}
}

func TestHealth(t *testing.T) {
	cfg := testConfig(t)
	cfg.Workers = 2
	_, url := serve(t, cfg, nil)

	get := func(accept string) (*http.Response, Health) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h Health
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			_ = json.NewDecoder(resp.Body).Decode(&h)
		}
		return resp, h
	}
	resp, h := get("application/json")
	if resp.StatusCode != http.StatusOK || h.Status != "ok" || h.Stata != standin || h.Workers != 2 || h.Busy != 0 || h.Queued != 0 {
		t.Errorf("health: %d %+v", resp.StatusCode, h)
	}
	// An MCP GET (the standalone SSE stream) is not a health request.
	if resp, h := get("text/event-stream, application/json"); h.Status != "" || resp.StatusCode == http.StatusOK {
		t.Errorf("MCP GET answered as health: %d %+v", resp.StatusCode, h)
	}
}

func TestNoStataIsToolError(t *testing.T) {
	t.Run("configured path missing", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Stata = filepath.Join(t.TempDir(), "stata-mp")
		r, url := serve(t, cfg, nil)
		cs := connect(t, url, nil)
		res := call(t, context.Background(), cs, toolRunSelection, map[string]any{"code": "display 1"}, "")
		if !res.IsError || !strings.Contains(text(res), "`stata` option") || !strings.Contains(text(res), cfg.Stata) {
			t.Errorf("IsError=%v, text %q", res.IsError, text(res))
		}
		if h := r.Health(); h.Stata != "" || h.Error == "" {
			t.Errorf("health: %+v", h)
		}
	})
	t.Run("nothing detected", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		if _, err := Detect(); err == nil {
			t.Skip("a Stata is installed on this machine")
		}
		cfg := testConfig(t)
		cfg.Stata = ""
		_, url := serve(t, cfg, nil)
		cs := connect(t, url, nil)
		res := call(t, context.Background(), cs, toolRunFile, map[string]any{"file_path": "/x.do"}, "")
		if !res.IsError || !strings.Contains(text(res), "`stata` option") || !strings.Contains(text(res), "not found") {
			t.Errorf("IsError=%v, text %q", res.IsError, text(res))
		}
	})
}

// TestPathWithSpacesRuns checks that a do-file whose path Stata's command
// line would split still runs, through the wrapper's quoted do.
func TestPathWithSpacesRuns(t *testing.T) {
	cfg := testConfig(t)
	_, url := serve(t, cfg, nil)
	cs := connect(t, url, nil)
	dir := filepath.Join(t.TempDir(), "my project")
	wd := t.TempDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	doFile := writeDo(t, dir, "first analysis.do", "display \"copied\"\n")

	res := call(t, context.Background(), cs, toolRunFile, map[string]any{"isolated": true, "file_path": doFile, "working_dir": wd}, "")
	txt := text(res)
	if res.IsError || !strings.Contains(txt, "\ncopied\n") {
		t.Fatalf("IsError=%v:\n%s", res.IsError, txt)
	}
	if !strings.Contains(txt, ". do \""+doFile+"\"\n") || !strings.Contains(txt, ". cd \""+wd+"\"\n") {
		t.Errorf("the wrapper did not run the file in %s:\n%s", wd, txt)
	}
	assertEntries(t, dir, "first analysis.do")
	assertEntries(t, wd)
}

func TestLocalhostProtection(t *testing.T) {
	// An initialize POST that reached the loopback listener with a public
	// Host, as a tunnel or a proxy on the same machine would forward it.
	post := func(url string) int {
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Host = "stata.example.com"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	_, url := serve(t, testConfig(t), nil)
	if got := post(url); got != http.StatusForbidden {
		t.Errorf("public Host over loopback: status %d, want 403", got)
	}
	cfg := testConfig(t)
	cfg.DisableLocalhostProtection = true
	_, url = serve(t, cfg, nil)
	if got := post(url); got != http.StatusOK {
		t.Errorf("with DisableLocalhostProtection: status %d, want 200", got)
	}
}

func TestSameLogTwiceAtOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Workers = 2
	_, url := serve(t, cfg, nil)
	pl := newProgressLog()
	cs := connect(t, url, pl)
	dir := t.TempDir()
	doFile := writeDo(t, dir, "same.do", "display \"run\"\nsleep 300\n")

	firstc := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, err := callErr(context.Background(), cs, toolRunFile, map[string]any{"isolated": true, "file_path": doFile}, "first")
		if err != nil {
			t.Errorf("first: %v", err)
		}
		firstc <- res
	}()
	<-pl.waitFor("first", "started: ")
	second := call(t, context.Background(), cs, toolRunFile, map[string]any{"isolated": true, "file_path": doFile}, "")
	first := <-firstc
	if first == nil || first.IsError || second.IsError {
		t.Fatalf("a run failed")
	}
	// Each run has its own log, in its own call directory.
	var out1, out2 RunResult
	b, _ := json.Marshal(first.StructuredContent)
	_ = json.Unmarshal(b, &out1)
	b, _ = json.Marshal(second.StructuredContent)
	_ = json.Unmarshal(b, &out2)
	if out1.LogPath == "" || out1.LogPath == out2.LogPath {
		t.Errorf("logs %q and %q", out1.LogPath, out2.LogPath)
	}
	assertEntries(t, dir, "same.do")
}
