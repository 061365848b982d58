package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// restResponse is one answer of the gateway.
type restResponse struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// restDo sends one request to the gateway, with "Name: value" headers, and
// reads the whole answer.
func restDo(t *testing.T, method, url, body string, headers ...string) restResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	r := restResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	return r
}

// wantStatus fails unless r has status and, for an error, the JSON error
// shape with code.
func (r restResponse) wantStatus(t *testing.T, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if code == "" {
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error answered as %q, not JSON: %s", ct, r.Body)
	}
	e, _ := r.JSON["error"].(map[string]any)
	if e == nil || e["code"] != code || e["message"] == "" || e["message"] == nil {
		t.Fatalf(`want {"error":{"code":%q,"message":...}}, got %s`, code, r.Body)
	}
}

// text returns the text of the first content item of a call's result.
func (r restResponse) text(t *testing.T) string {
	t.Helper()
	content, _ := r.JSON["content"].([]any)
	if len(content) == 0 {
		t.Fatalf("no content in %s", r.Body)
	}
	item, _ := content[0].(map[string]any)
	s, _ := item["text"].(string)
	return s
}

// sseEvent is one event of a /stream answer, with when it arrived.
type sseEvent struct {
	Name string
	Data map[string]any
	At   time.Duration
}

// restStream posts a call to /stream and reads its events to the end, with
// the comments counted apart.
func restStream(t *testing.T, url, body string) (events []sseEvent, comments int) {
	t.Helper()
	start := time.Now()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream answered %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var name string
	var data []byte
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ":"):
			comments++
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: ")...)
		case line == "" && name != "":
			ev := sseEvent{Name: name, At: time.Since(start)}
			if err := json.Unmarshal(data, &ev.Data); err != nil {
				t.Fatalf("event %s: data not JSON: %s", name, data)
			}
			events = append(events, ev)
			name, data = "", nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return events, comments
}

// startREST runs caddy-stata with an mcp_rest site in front of upstream (an
// MCP endpoint URL), with extra subdirectives, and any further sites.
func startREST(t *testing.T, upstream, options string, moreSites ...string) *caddy {
	t.Helper()
	return startCaddy(t, "", fmt.Sprintf(`
	mcp_rest {
		upstream %s
		%s
	}`, upstream, options), moreSites...)
}

// validateOpenAPI checks the document at url with an OpenAPI validator from
// npm (integration/ts/openapi-validate.mjs) and returns its version.
func validateOpenAPI(t *testing.T, url string, headers ...string) string {
	t.Helper()
	cmd := exec.Command("node", append([]string{filepath.Join(tsDir, "openapi-validate.mjs"), url}, headers...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openapi-validate.mjs: %v\n%s", err, stderr.String())
	}
	var res struct {
		Valid   bool
		Version string
		Errors  any
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("openapi-validate.mjs printed %s", out)
	}
	if !res.Valid {
		t.Fatalf("the OpenAPI document is not valid: %v", res.Errors)
	}
	return res.Version
}

// TestRESTGoUpstream drives every plain endpoint against a Go SDK server:
// the tools, a valid OpenAPI 3.1 document, calls with structured results and
// tool errors, every refusal with its status, a stream with the upstream's
// progress and log messages, stats and health.
func TestRESTGoUpstream(t *testing.T) {
	up := startRESTUpstream(t, "")
	c := startREST(t, up.URL, "interval 1s\n\t\tmax_request_body 1KiB")

	r := restDo(t, "GET", c.URL+"/tools", "")
	r.wantStatus(t, 200, "")
	var names []string
	for _, tool := range r.JSON["tools"].([]any) {
		m := tool.(map[string]any)
		names = append(names, m["name"].(string))
		if m["inputSchema"] == nil {
			t.Fatalf("tool without inputSchema: %v", m)
		}
	}
	if strings.Join(names, ",") != "add,fail,slow" {
		t.Fatalf("tools %v, want add, fail, slow", names)
	}

	r = restDo(t, "GET", c.URL+"/openapi.json", "")
	r.wantStatus(t, 200, "")
	if r.JSON["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v", r.JSON["openapi"])
	}
	if _, ok := r.JSON["paths"].(map[string]any)["/tools/add"]; !ok {
		t.Fatalf("no operation for add: %s", r.Body)
	}
	if v := validateOpenAPI(t, c.URL+"/openapi.json"); v != "3.1" {
		t.Fatalf("the validator saw version %q", v)
	}

	r = restDo(t, "POST", c.URL+"/tools/add", `{"arguments":{"a":2,"b":40}}`)
	r.wantStatus(t, 200, "")
	if sc, _ := r.JSON["structuredContent"].(map[string]any); sc["sum"] != 42.0 || r.JSON["isError"] != false {
		t.Fatalf("add answered %s", r.Body)
	}
	r = restDo(t, "POST", c.URL+"/tools/fail", `{}`)
	r.wantStatus(t, 200, "")
	if r.JSON["isError"] != true || r.text(t) != "it failed" {
		t.Fatalf("a tool error answered %s", r.Body)
	}

	restDo(t, "POST", c.URL+"/tools/add", `{"arguments":`).wantStatus(t, 400, "bad_request")
	restDo(t, "POST", c.URL+"/tools/add", `{"a":1,"b":2}`).wantStatus(t, 400, "bad_request")
	restDo(t, "POST", c.URL+"/tools/add", `{"arguments":{"a":"two","b":2}}`).wantStatus(t, 400, "invalid_arguments")
	restDo(t, "POST", c.URL+"/tools/nope", `{"arguments":{}}`).wantStatus(t, 404, "unknown_tool")
	restDo(t, "POST", c.URL+"/tools/nope/stream", `{"arguments":{}}`).wantStatus(t, 404, "unknown_tool")
	big := `{"arguments":{"a":1,"b":2,"pad":"` + strings.Repeat("x", 2048) + `"}}`
	restDo(t, "POST", c.URL+"/tools/add", big).wantStatus(t, 413, "request_too_large")
	restDo(t, "GET", c.URL+"/tools/add", "").wantStatus(t, 405, "method_not_allowed")
	restDo(t, "GET", c.URL+"/elsewhere", "").wantStatus(t, 404, "not_found")

	events, comments := restStream(t, c.URL+"/tools/slow/stream", `{"arguments":{"ms":3000,"steps":3,"tag":"s"}}`)
	var progress []float64
	var upstreamSteps, logs int
	for _, ev := range events {
		switch ev.Name {
		case "progress":
			progress = append(progress, ev.Data["progress"].(float64))
			if msg, _ := ev.Data["message"].(string); strings.HasPrefix(msg, "step ") {
				upstreamSteps++
			}
		case "message":
			if ev.Data["level"] == "info" && strings.HasPrefix(fmt.Sprint(ev.Data["data"]), "s: step ") {
				logs++
			}
		}
	}
	if upstreamSteps != 3 || logs != 3 {
		t.Fatalf("%d upstream progress and %d log events, want 3 and 3: %+v", upstreamSteps, logs, events)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] <= progress[i-1] {
			t.Fatalf("progress went %v", progress)
		}
	}
	n := len(events)
	if n < 2 || events[n-2].Name != "result" || events[n-1].Name != "done" {
		t.Fatalf("the stream does not end with result, done: %+v", events)
	}
	if comments < 2 {
		t.Fatalf("%d keep-alive comments in a 3 s stream at interval 1s", comments)
	}

	r = restDo(t, "GET", c.URL+"/stats", "")
	r.wantStatus(t, 200, "")
	calls := r.JSON["calls"].(map[string]any)
	if calls["add"].(map[string]any)["ok"] != 1.0 || calls["fail"].(map[string]any)["tool_error"] != 1.0 ||
		calls["slow"].(map[string]any)["ok"] != 1.0 {
		t.Fatalf("stats: %s", r.Body)
	}
	durations := r.JSON["durationsByTool"].(map[string]any)["slow"].(map[string]any)
	if p50 := durations["p50Ms"].(float64); p50 < 2900 {
		t.Fatalf("the slow call's p50 is %v ms; it ran 3 s", p50)
	}
	if up := r.JSON["upstream"].(map[string]any); up["sessions"].(float64) < 1 {
		t.Fatalf("stats: no upstream session: %s", r.Body)
	}
	r = restDo(t, "GET", c.URL+"/health", "")
	r.wantStatus(t, 200, "")
	if r.JSON["status"] != "ok" || r.JSON["upstream"] != "ok" {
		t.Fatalf("health: %s", r.Body)
	}
}

// TestRESTUpstreamRestartAndDown restarts the upstream, losing its sessions:
// the next call succeeds on a new session. With the upstream down, health is
// 503 and calls 502 with a JSON error; back up, both recover.
func TestRESTUpstreamRestartAndDown(t *testing.T) {
	up := startRESTUpstream(t, "")
	c := startREST(t, up.URL, "")
	call := func() restResponse {
		return restDo(t, "POST", c.URL+"/tools/add", `{"arguments":{"a":1,"b":1}}`)
	}
	call().wantStatus(t, 200, "")
	up.restart()
	r := call()
	r.wantStatus(t, 200, "")
	if sc, _ := r.JSON["structuredContent"].(map[string]any); sc["sum"] != 2.0 {
		t.Fatalf("after the restart: %s", r.Body)
	}
	stats := restDo(t, "GET", c.URL+"/stats", "")
	if up := stats.JSON["upstream"].(map[string]any); up["opened"].(float64) < 2 || up["dropped"].(float64) < 1 {
		t.Fatalf("the lost session was not replaced: %s", stats.Body)
	}

	up.stop()
	r = restDo(t, "GET", c.URL+"/health", "")
	if r.Status != 503 || r.JSON["status"] == "ok" || r.JSON["cause"] == nil {
		t.Fatalf("health with the upstream down: %d %s", r.Status, r.Body)
	}
	call().wantStatus(t, 502, "upstream_unavailable")
	restDo(t, "GET", c.URL+"/tools", "").wantStatus(t, 502, "upstream_unavailable")

	up.start()
	restDo(t, "GET", c.URL+"/health", "").wantStatus(t, 200, "")
	call().wantStatus(t, 200, "")
}

// TestRESTStataRunner calls stata_runner (the stand-in as Stata) through
// mcp_rest: a plain call, then a run of 30 s on /stream at interval 2s,
// whose progress arrives at every interval and which ends with result and
// done.
func TestRESTStataRunner(t *testing.T) {
	port := freePort(t)
	runnerSite := fmt.Sprintf(`http://127.0.0.1:%d {
	stata_runner /mcp {
		stata %s
		work_dir %s
	}
}`, port, standin, t.TempDir())
	const interval = 2 * time.Second
	c := startREST(t, fmt.Sprintf("http://127.0.0.1:%d/mcp", port), "interval 2s", runnerSite)

	r := restDo(t, "POST", c.URL+"/tools/stata_run_selection", `{"arguments":{"selection":"display \"hello from rest\""}}`)
	r.wantStatus(t, 200, "")
	if r.JSON["isError"] != false || !strings.Contains(r.text(t), "hello from rest") {
		t.Fatalf("stata_run_selection answered %s", r.Body)
	}

	src := "display \"begin\"\n"
	for i := 1; i <= 6; i++ {
		src += fmt.Sprintf("sleep 5000\ndisplay \"step %d\"\n", i)
	}
	doFile := writeDo(t, "long.do", src)
	body, _ := json.Marshal(map[string]any{"arguments": map[string]any{"file_path": doFile}})
	events, comments := restStream(t, c.URL+"/tools/stata_run_file/stream", string(body))
	var last time.Duration
	var progress []float64
	var maxGap time.Duration
	for _, ev := range events {
		if ev.Name != "progress" {
			continue
		}
		maxGap = max(maxGap, ev.At-last)
		last = ev.At
		progress = append(progress, ev.Data["progress"].(float64))
	}
	n := len(events)
	if n < 2 || events[n-2].Name != "result" || events[n-1].Name != "done" {
		t.Fatalf("the stream does not end with result, done: %+v", events)
	}
	end := events[n-2].At
	t.Logf("%d progress events in %v, largest gap %v, %d comments", len(progress), end, maxGap, comments)
	if end < 29*time.Second {
		t.Fatalf("the run ended after %v; the do-file sleeps 30 s", end)
	}
	// A progress event comes at least every interval (from the log, or
	// invented when the log is quiet); the margin allows for a loaded machine.
	if len(progress) < 14 || maxGap > interval+1500*time.Millisecond || end-last > interval+1500*time.Millisecond {
		t.Fatalf("%d progress events, largest gap %v, last %v before the end: %+v", len(progress), maxGap, end-last, events)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] <= progress[i-1] {
			t.Fatalf("progress went %v", progress)
		}
	}
	if comments < 13 {
		t.Fatalf("%d keep-alive comments in 30 s at interval 2s", comments)
	}
	res := events[n-2].Data
	content, _ := res["content"].([]any)
	if len(content) == 0 || !strings.Contains(fmt.Sprint(content[0].(map[string]any)["text"]), "step 6") {
		t.Fatalf("the result lacks the log: %v", res)
	}
}

// TestRESTTypeScriptUpstream puts mcp_rest in front of the TypeScript SDK's
// server-everything.
func TestRESTTypeScriptUpstream(t *testing.T) {
	everything := startEverything(t)
	c := startREST(t, "http://"+everything+"/mcp", "")
	r := restDo(t, "GET", c.URL+"/tools", "")
	r.wantStatus(t, 200, "")
	if !strings.Contains(string(r.Body), `"name":"echo"`) {
		t.Fatalf("no echo tool: %s", r.Body)
	}
	validateOpenAPI(t, c.URL+"/openapi.json")
	r = restDo(t, "POST", c.URL+"/tools/echo", `{"arguments":{"message":"hi"}}`)
	r.wantStatus(t, 200, "")
	if got := r.text(t); got != "Echo: hi" {
		t.Fatalf("echo answered %q: %s", got, r.Body)
	}
	restDo(t, "POST", c.URL+"/tools/echo", `{"arguments":{"message":7}}`).wantStatus(t, 400, "invalid_arguments")
}

// startExampleConfig runs caddy-stata with the examples/ file name, whose
// site listens on MCP_REST_PORT, with env set for its placeholders.
func startExampleConfig(t *testing.T, name string, env map[string]string) *caddy {
	t.Helper()
	example, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	port, admin := freePort(t), freePort(t)
	t.Setenv("MCP_REST_PORT", fmt.Sprint(port))
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tauto_https off\n}\n\n%s", admin, example)
	return startCaddyfile(t, cfg, fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", admin))
}

// wsMessage is one line of ws-client.mjs.
type wsMessage struct {
	T   int `json:"t"`
	Msg struct {
		ID    string         `json:"id"`
		Event string         `json:"event"`
		Data  map[string]any `json:"data"`
		Error map[string]any `json:"error"`
	} `json:"msg"`
}

// TestRESTAPIKeyAndWebSocket runs the README's API-key config: a missing or
// wrong key gets 401, the right one passes, in the header or (for a
// WebSocket client) the query. The WebSocket client from the tests' lock
// file runs two calls at once on one socket and cancels a third, which the
// upstream sees cancelled.
func TestRESTAPIKeyAndWebSocket(t *testing.T) {
	up := startRESTUpstream(t, "")
	const key = "k3y-for-tests"
	c := startExampleConfig(t, "mcp_rest_api_key.Caddyfile", map[string]string{
		"MCP_REST_API_KEY": key, "MCP_UPSTREAM": up.URL})

	restDo(t, "GET", c.URL+"/tools", "").wantStatus(t, 401, "unauthorized")
	restDo(t, "GET", c.URL+"/tools", "", "X-API-Key: wrong").wantStatus(t, 401, "unauthorized")
	restDo(t, "GET", c.URL+"/tools?api_key=wrong", "").wantStatus(t, 401, "unauthorized")
	restDo(t, "POST", c.URL+"/tools/add", `{"arguments":{"a":1,"b":2}}`).wantStatus(t, 401, "unauthorized")
	restDo(t, "GET", c.URL+"/tools", "", "X-API-Key: "+key).wantStatus(t, 200, "")
	restDo(t, "GET", c.URL+"/health?api_key="+key, "").wantStatus(t, 200, "")
	r := restDo(t, "POST", c.URL+"/tools/add", `{"arguments":{"a":1,"b":2}}`, "X-API-Key: "+key)
	r.wantStatus(t, 200, "")

	wsURL := "ws" + strings.TrimPrefix(c.URL, "http") + "/ws/tools/slow?api_key=" + key
	cfg, _ := json.Marshal(map[string]any{
		"url": wsURL,
		"calls": []map[string]any{
			{"id": "a", "arguments": map[string]any{"ms": 2000, "steps": 2, "tag": "a"}},
			{"id": "b", "arguments": map[string]any{"ms": 2000, "steps": 2, "tag": "b"}},
			// Cancelled on its first progress, so while it runs upstream.
			{"id": "c", "arguments": map[string]any{"ms": 60000, "steps": 60, "tag": "c"}},
		},
		"cancel":   "c",
		"cancelOn": "progress",
	})
	start := time.Now()
	cmd := exec.Command("node", filepath.Join(tsDir, "ws-client.mjs"), string(cfg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ws-client.mjs: %v\n%s\n%s", err, out, stderr.String())
	}
	elapsed := time.Since(start)
	final := map[string]wsMessage{}
	progress, logs := map[string]int{}, map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m wsMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("ws-client.mjs printed %q", line)
		}
		switch m.Msg.Event {
		case "result", "error":
			final[m.Msg.ID] = m
		case "progress":
			progress[m.Msg.ID]++
		case "message":
			if data, _ := m.Msg.Data["data"].(string); strings.HasPrefix(data, m.Msg.ID+": step ") {
				logs[m.Msg.ID]++
			}
		}
	}
	for _, id := range []string{"a", "b"} {
		m, ok := final[id]
		if !ok || m.Msg.Event != "result" {
			t.Fatalf("call %s ended %+v:\n%s", id, m, out)
		}
		content := m.Msg.Data["content"].([]any)
		if text := content[0].(map[string]any)["text"]; text != "ran "+id {
			t.Fatalf("call %s got %v", id, text)
		}
		if progress[id] < 1 || logs[id] < 1 {
			t.Fatalf("call %s got %d progress and %d of its log messages", id, progress[id], logs[id])
		}
	}
	if m := final["c"]; m.Msg.Event != "error" || m.Msg.Error["code"] != "cancelled" {
		t.Fatalf("the cancelled call ended %+v:\n%s", m, out)
	}
	// Both 2 s calls ran at once: one after the other would take 4 s.
	if elapsed > 3800*time.Millisecond {
		t.Fatalf("two 2 s calls on one socket took %v", elapsed)
	}
	up.waitCancelled(t)
	if e := up.waitEnded(t, "c"); !isCancelled(e.Err) {
		t.Fatalf("the cancelled call ended upstream with %v", e.Err)
	}
}

// TestRESTBearerExample runs the README's bearer-token config: the endpoints
// under /api, a token checked by Caddy, and a token of its own sent upstream
// by header_up.
func TestRESTBearerExample(t *testing.T) {
	up := startRESTUpstream(t, "upstream-secret")
	c := startExampleConfig(t, "mcp_rest_bearer.Caddyfile", map[string]string{
		"MCP_REST_TOKEN": "client-secret", "UPSTREAM_TOKEN": "upstream-secret", "MCP_UPSTREAM": up.URL})
	r := restDo(t, "GET", c.URL+"/api/tools", "")
	r.wantStatus(t, 401, "unauthorized")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without WWW-Authenticate: %v", r.Header)
	}
	restDo(t, "GET", c.URL+"/api/tools", "", "Authorization: Bearer wrong").wantStatus(t, 401, "unauthorized")
	restDo(t, "POST", c.URL+"/api/tools/add", `{"arguments":{"a":1,"b":2}}`).wantStatus(t, 401, "unauthorized")
	auth := "Authorization: Bearer client-secret"
	restDo(t, "GET", c.URL+"/api/tools", "", auth).wantStatus(t, 200, "")
	r = restDo(t, "POST", c.URL+"/api/tools/add", `{"arguments":{"a":1,"b":2}}`, auth)
	r.wantStatus(t, 200, "")
	if sc, _ := r.JSON["structuredContent"].(map[string]any); sc["sum"] != 3.0 {
		t.Fatalf("add answered %s", r.Body)
	}
	if n := up.refusedCount(); n != 0 {
		t.Fatalf("the upstream refused %d requests: header_up did not carry its token", n)
	}
	validateOpenAPI(t, c.URL+"/api/openapi.json", auth)
}

// TestRESTModuleListed checks that the binary has the mcp_rest module.
func TestRESTModuleListed(t *testing.T) {
	stdout, stderr, code := runBinary(t, "list-modules")
	if code != 0 || !strings.Contains(stdout, "http.handlers.mcp_rest\n") {
		t.Fatalf("list-modules (exit %d) does not list http.handlers.mcp_rest:\n%s%s", code, stdout, stderr)
	}
}

// TestRESTLegacyUpstream puts mcp_rest in front of a legacy HTTP+SSE server
// (the TypeScript SDK's SSEServerTransport): it refuses Streamable HTTP, so
// the gateway falls back to its event stream, and calls work the same.
func TestRESTLegacyUpstream(t *testing.T) {
	legacy := startLegacyUpstream(t)
	c := startREST(t, legacy.URL, "")
	for i := 0; i < 2; i++ {
		r := restDo(t, "POST", c.URL+"/tools/sleep", `{"arguments":{"ms":200}}`)
		r.wantStatus(t, 200, "")
		if got := r.text(t); got != "slept 200 ms" {
			t.Fatalf("sleep answered %q: %s", got, r.Body)
		}
	}
	if _, err := c.waitLog(t.Context(), "upstream speaks the legacy HTTP+SSE transport"); err != nil {
		t.Fatal(err)
	}
	restDo(t, "GET", c.URL+"/health", "").wantStatus(t, 200, "")
}

// TestRESTClientGoneCancels checks that a REST client that goes away, unlike
// an MCP client, cancels its call upstream: it cannot come back for it.
func TestRESTClientGoneCancels(t *testing.T) {
	up := startRESTUpstream(t, "")
	c := startREST(t, up.URL, "interval 1s")
	for _, path := range []string{"/tools/slow", "/tools/slow/stream"} {
		t.Run(path, func(t *testing.T) {
			tag := strings.ReplaceAll(path, "/", "_")
			ctx, leave := context.WithCancel(t.Context())
			defer leave()
			req, err := http.NewRequestWithContext(ctx, "POST", c.URL+path,
				strings.NewReader(`{"arguments":{"ms":60000,"tag":"`+tag+`"}}`))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body) // until the connection is closed
					resp.Body.Close()
				}
			}()
			if got := <-up.started; got != tag {
				t.Fatalf("started %q", got)
			}
			leave() // the client goes away
			<-done
			up.waitCancelled(t)
			if e := up.waitEnded(t, tag); !isCancelled(e.Err) {
				t.Fatalf("the call ended upstream with %v", e.Err)
			}
		})
	}
}
