package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// Held calls against upstreams that break, and clients that leave: each
// call ends with exactly one JSON-RPC outcome for its id, the process keeps
// serving, and no goroutine of caddy-stata outlives its call.

// faultDelay is how long a fault tool waits before it breaks: longer than
// the grace period of the fault sites, so that the call is held by then.
const faultDelay = 500 * time.Millisecond

// faultSite holds calls after 200ms, keeps them alive every 200ms and ends
// them after 2s.
const faultSite = `
	mcp_keepalive {
		grace 200ms
		interval 200ms
		max_duration 2s
	}
	reverse_proxy {upstream}`

// faultUpstream is a raw JSON-RPC server over net/http whose tools/call
// answers break the way real servers break, one tool per fault (see
// serveFault). It closes every connection after its answer, so that no
// idle upstream connection of caddy-stata outlives a call.
type faultUpstream struct {
	HostPort string
	// arrived receives the raw id of each tools/call whose arguments ask for
	// a signal, when the call reaches the upstream.
	arrived chan string
}

// startFaultUpstream starts the server.
func startFaultUpstream(t *testing.T) *faultUpstream {
	t.Helper()
	u := &faultUpstream{arrived: make(chan string, 16)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(u.serveFault))
	srv.Config.SetKeepAlivesEnabled(false)
	srv.Start()
	t.Cleanup(srv.Close)
	u.HostPort = strings.TrimPrefix(srv.URL, "http://")
	return u
}

// faultArgs are the arguments of the fault tools.
type faultArgs struct {
	Ms     int  `json:"ms"`
	Signal bool `json:"signal"`
}

// serveFault answers one POST. The tools:
//
//   - ok: a result at once; slow_ok: a result after faultDelay;
//   - slow_json {ms}: a result as JSON after ms;
//   - slow_sse {ms}: an event stream with a notifications/message every
//     100ms for ms, then the result;
//   - reset_before_headers, close_before_headers: after faultDelay the
//     connection is reset (RST) or closed (FIN) before any header;
//   - reset_mid_sse: event stream headers and one event, then a reset;
//   - reset_mid_json: JSON headers announcing 1000 bytes and 100 of them,
//     then a reset;
//   - html_500: 500 with an HTML page; not_json: 200 application/json with
//     HTML; plain_text: 200 text/plain; other_id: 200 with the response for
//     another id; sse_no_response: an event stream that ends after one
//     notification;
//   - hang_sse: event stream headers and one event, then nothing until the
//     request is cancelled; hang_headers: nothing at all until then.
func (u *faultUpstream) serveFault(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name      string    `json:"name"`
			Arguments faultArgs `json:"arguments"`
		} `json:"params"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.ID == nil || msg.Method != "tools/call" {
		jsonReply(w, http.StatusBadRequest, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}`)
		return
	}
	args := msg.Params.Arguments
	if args.Signal {
		select {
		case u.arrived <- string(msg.ID):
		default:
		}
	}
	id := string(msg.ID)
	result := `{"jsonrpc":"2.0","id":` + id + `,"result":{"content":[{"type":"text","text":"` + msg.Params.Name + ` done"}]}}`
	notification := `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"about to break"}}`
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-r.Context().Done():
			return false
		}
	}
	startSSE := func() {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "event: message\ndata: %s\n\n", notification)
		_ = http.NewResponseController(w).Flush()
	}
	switch msg.Params.Name {
	case "ok":
		jsonReply(w, http.StatusOK, result)
	case "slow_ok":
		if wait(faultDelay) {
			jsonReply(w, http.StatusOK, result)
		}
	case "slow_json":
		if wait(time.Duration(args.Ms) * time.Millisecond) {
			jsonReply(w, http.StatusOK, result)
		}
	case "slow_sse":
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for i := 1; i <= args.Ms/100; i++ {
			if !wait(100 * time.Millisecond) {
				return
			}
			fmt.Fprintf(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"step %d\"}}\n\n", i)
			_ = http.NewResponseController(w).Flush()
		}
		fmt.Fprintf(w, "event: message\ndata: %s\n\n", result)
	case "reset_before_headers", "close_before_headers":
		if wait(faultDelay) {
			breakConn(w, msg.Params.Name == "reset_before_headers")
		}
	case "reset_mid_sse":
		startSSE()
		if wait(faultDelay) {
			breakConn(w, true)
		}
	case "reset_mid_json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, (result + strings.Repeat(" ", 100))[:100])
		_ = http.NewResponseController(w).Flush()
		if wait(faultDelay) {
			breakConn(w, true)
		}
	case "html_500":
		if wait(faultDelay) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "<html><body><h1>Internal Server Error</h1></body></html>")
		}
	case "not_json":
		if wait(faultDelay) {
			jsonReply(w, http.StatusOK, "<html><body>this is not JSON</body></html>")
		}
	case "plain_text":
		if wait(faultDelay) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "done")
		}
	case "other_id":
		if wait(faultDelay) {
			jsonReply(w, http.StatusOK, `{"jsonrpc":"2.0","id":424242,"result":{"content":[]}}`)
		}
	case "sse_no_response":
		startSSE()
		wait(faultDelay)
	case "hang_sse":
		startSSE()
		<-r.Context().Done()
	case "hang_headers":
		<-r.Context().Done()
	default:
		jsonReply(w, http.StatusOK, `{"jsonrpc":"2.0","id":`+id+`,"error":{"code":-32602,"message":"unknown tool"}}`)
	}
}

// jsonReply answers with body as application/json.
func jsonReply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// breakConn takes the connection over and ends it: with a reset (RST) when
// reset is true, else with a plain close (FIN).
func breakConn(w http.ResponseWriter, reset bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// closedPort returns a loopback port nobody listens on.
func closedPort(t *testing.T) int { return freePort(t) }

// startSites runs caddy-stata with one site per body (each on a free port,
// {upstream} replaced by upstream) and returns the process, the sites'
// URLs and the admin endpoint's address. It is startCaddy with the admin
// address known, for the goroutine profile.
func startSites(t *testing.T, upstream string, bodies ...string) (*caddy, []string, string) {
	t.Helper()
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "{\n\tadmin %s\n\tpersist_config off\n\tauto_https off\n}\n", admin)
	var urls []string
	for _, b := range bodies {
		u := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		urls = append(urls, u)
		fmt.Fprintf(&cfg, "\n%s {\n%s\n}\n", u, strings.ReplaceAll(b, "{upstream}", upstream))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &caddy{t: t, URL: urls[0], exited: make(chan struct{})}
	c.cmd = exec.Command(binary, "run", "--config", path, "--adapter", "caddyfile")
	c.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stdout = io.Discard
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go c.read(stderr)
	t.Cleanup(c.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.waitLog(ctx, "serving initial configuration"); err != nil {
		select {
		case <-c.exited:
			t.Fatalf("caddy-stata exited:\n%s", c.Logs())
		default:
		}
		t.Fatalf("caddy-stata did not start: %v", err)
	}
	return c, urls, admin
}

// noKeepAlive is a client that closes each connection after its exchange,
// so that no idle connection keeps a server goroutine alive.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}

// goroutines returns caddy-stata's goroutine count and profile, from the
// pprof handler of its admin endpoint.
func goroutines(t *testing.T, admin string) (int, string) {
	t.Helper()
	resp, err := noKeepAlive.Get("http://" + admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("goroutine profile: %v %s: %.300s", err, resp.Status, b)
	}
	var n int
	if _, err := fmt.Sscanf(string(b), "goroutine profile: total %d", &n); err != nil {
		t.Fatalf("goroutine profile %.100q: %v", b, err)
	}
	return n, string(b)
}

// settledGoroutines returns caddy-stata's goroutine count once it holds
// steady, so that goroutines still ending from earlier exchanges (the
// previous profile request's connection, say) are not in the baseline: the
// lowest count, once three readings in a row are no lower, within 5 seconds.
func settledGoroutines(t *testing.T, admin string) (int, string) {
	t.Helper()
	n, profile := goroutines(t, admin)
	deadline := time.Now().Add(5 * time.Second)
	for steady := 0; steady < 3 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		m, p := goroutines(t, admin)
		if m < n {
			n, profile, steady = m, p, 0
			continue
		}
		steady++
	}
	return n, profile
}

// assertGoroutinesBack waits until caddy-stata has no more goroutines than
// base, polling its profile (nothing signals that the last goroutine of a
// call has returned), and fails with both profiles if it does not happen
// within 10 seconds.
func assertGoroutinesBack(t *testing.T, admin string, base int, baseProfile string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, profile := goroutines(t, admin)
		if n <= base {
			t.Logf("caddy-stata has %d goroutines, %d before the calls", n, base)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy-stata has %d goroutines, %d before the calls:\n--- now:\n%s\n--- before:\n%s", n, base, profile, baseProfile)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rpcMessage is a JSON-RPC message as a client reads it.
type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// isResponse reports whether m is a response: an id, no method, and a
// result or an error.
func (m *rpcMessage) isResponse() bool {
	return m.Method == "" && m.ID != nil && (m.Result != nil || m.Error != nil)
}

// callView is what a client saw of one tools/call.
type callView struct {
	Status      int
	ContentType string
	Body        []byte
	// Outcomes are the JSON-RPC responses for the call's id, in order; for a
	// JSON answer, the body itself.
	Outcomes []rpcMessage
	// Stray are the responses for other ids.
	Stray []string
	// AfterOutcome counts the events that came after the first outcome.
	AfterOutcome int
	Elapsed      time.Duration
}

// toolCall posts a tools/call of tool with args (a JSON object) and id to
// url, reads the whole answer (an event stream decoded with the repository's
// SSE decoder, or one JSON body) and sorts the JSON-RPC responses in it.
func toolCall(t *testing.T, url, id, tool, args string) callView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, tool, args)
	start := time.Now()
	resp, err := noKeepAlive.Do(rawRequest(ctx, t, url+"/mcp", "", body))
	if err != nil {
		t.Fatalf("tools/call %s: %v", tool, err)
	}
	defer resp.Body.Close()
	v := callView{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	v.Body, err = io.ReadAll(resp.Body)
	v.Elapsed = time.Since(start)
	if err != nil {
		t.Fatalf("tools/call %s: reading the answer after %v: %v\n%s", tool, v.Elapsed, err, v.Body)
	}
	sort := func(data []byte) {
		var m rpcMessage
		if json.Unmarshal(data, &m) != nil || !m.isResponse() {
			if len(v.Outcomes) > 0 {
				v.AfterOutcome++
			}
			return
		}
		switch {
		case bytes.Equal(m.ID, []byte(id)):
			if len(v.Outcomes) > 0 {
				v.AfterOutcome++
			}
			v.Outcomes = append(v.Outcomes, m)
		default:
			v.Stray = append(v.Stray, string(data))
		}
	}
	if v.ContentType == "text/event-stream" {
		dec := sse.NewDecoder(0)
		dec.Feed(v.Body, func(ev sse.Event) { sort([]byte(ev.Data)) })
	} else {
		sort(v.Body)
	}
	return v
}

// assertOneError checks that a held call ended with exactly one JSON-RPC
// error for its id, with code and a message that contains cause, and
// nothing after it, within a few seconds.
func assertOneError(t *testing.T, v callView, code int, cause string) {
	t.Helper()
	if v.Status != http.StatusOK || v.ContentType != "text/event-stream" {
		t.Fatalf("not held: %d %s: %s", v.Status, v.ContentType, v.Body)
	}
	if len(v.Outcomes) != 1 || len(v.Stray) != 0 || v.AfterOutcome != 0 {
		t.Fatalf("%d outcomes for the id, %d for other ids, %d events after the outcome; want exactly one:\n%s",
			len(v.Outcomes), len(v.Stray), v.AfterOutcome, v.Body)
	}
	e := v.Outcomes[0].Error
	if e == nil || e.Code != code || !strings.Contains(e.Message, cause) {
		t.Fatalf("outcome %s, want error %d naming %q:\n%s", describeOutcome(v.Outcomes[0]), code, cause, v.Body)
	}
	if v.Elapsed > 5*time.Second {
		t.Fatalf("the outcome took %v", v.Elapsed)
	}
}

// describeOutcome prints an outcome for a failure message.
func describeOutcome(m rpcMessage) string {
	if m.Error != nil {
		return fmt.Sprintf("error %d %q", m.Error.Code, m.Error.Message)
	}
	return "result " + string(m.Result)
}

// assertStillServes checks that a quick call and a held call both work.
func assertStillServes(t *testing.T, url string) {
	t.Helper()
	v := toolCall(t, url, `"still-quick"`, "ok", `{}`)
	if v.Status != http.StatusOK || len(v.Outcomes) != 1 || v.Outcomes[0].Result == nil {
		t.Fatalf("a quick call after the fault: %d %s: %s", v.Status, v.ContentType, v.Body)
	}
	v = toolCall(t, url, `"still-held"`, "slow_ok", `{}`)
	if v.ContentType != "text/event-stream" || len(v.Outcomes) != 1 || v.Outcomes[0].Result == nil {
		t.Fatalf("a held call after the fault: %d %s: %s", v.Status, v.ContentType, v.Body)
	}
}

// waitFinished waits for the held call finished line of id (a number) that
// contains every one of parts, and returns it.
func waitFinished(t *testing.T, c *caddy, id string, parts ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	line, err := c.waitLog(ctx, append([]string{`"msg":"held call finished"`, `"id":"` + id + `"`}, parts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// TestFaultsOfHeldUpstream breaks the upstream of a held call in every way
// a real server breaks: the client gets exactly one JSON-RPC error for its
// id within seconds, caddy-stata logs the outcome, keeps serving, and ends
// up with no more goroutines than before the faults.
func TestFaultsOfHeldUpstream(t *testing.T) {
	up := startFaultUpstream(t)
	closed := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	c, urls, admin := startSites(t, up.HostPort,
		faultSite,
		// A refused connection reaches a held call when the stream starts at
		// once, or when reverse_proxy retries past the grace period.
		"\tmcp_keepalive {\n\t\tgrace 0\n\t\tinterval 200ms\n\t}\n\treverse_proxy "+closed,
		"\tmcp_keepalive {\n\t\tgrace 200ms\n\t\tinterval 200ms\n\t}\n\treverse_proxy "+closed+" {\n\t\tlb_try_duration 1s\n\t\tlb_try_interval 100ms\n\t}",
		// Within the grace period, a refusal is what reverse_proxy alone gives.
		"\tmcp_keepalive {\n\t\tgrace 200ms\n\t}\n\treverse_proxy "+closed,
	)
	held, refusedAtOnce, refusedAfterRetries, refusedInGrace := urls[0], urls[1], urls[2], urls[3]

	// Warm up every path, so that what a first request starts for good is
	// in the baseline.
	assertStillServes(t, held)
	toolCall(t, refusedAtOnce, "1", "slow_ok", `{}`)
	toolCall(t, refusedInGrace, "2", "slow_ok", `{}`)
	base, baseProfile := settledGoroutines(t, admin)

	const internal, timeout = -32603, -32001
	for i, tc := range []struct {
		name, url, tool string
		code            int
		cause, outcome  string
	}{
		{"connection refused, grace 0", refusedAtOnce, "slow_ok", internal,
			"the upstream failed before answering: connection refused", "upstream_error"},
		{"connection refused, retried past grace", refusedAfterRetries, "slow_ok", internal,
			"the upstream failed before answering: connection refused", "upstream_error"},
		{"reset before headers", held, "reset_before_headers", internal,
			"the upstream failed before answering: connection reset", "upstream_error"},
		{"closed before headers", held, "close_before_headers", internal,
			"the upstream failed before answering: connection closed", "upstream_error"},
		{"reset mid-body, event stream", held, "reset_mid_sse", internal,
			"the upstream connection broke before the response was complete", "upstream_error"},
		{"reset mid-body, JSON", held, "reset_mid_json", internal,
			"the upstream connection broke before the response was complete", "upstream_error"},
		{"500 with HTML", held, "html_500", internal,
			"the upstream answered 500 Internal Server Error", "upstream_error"},
		{"200 JSON that is not JSON", held, "not_json", internal,
			"the upstream answered with JSON that is not the response to this request", "upstream_error"},
		{"200 text/plain", held, "plain_text", internal,
			`the upstream answered with content type "text/plain`, "upstream_error"},
		{"200 JSON with another id", held, "other_id", internal,
			"the upstream answered with JSON that is not the response to this request", "upstream_error"},
		{"event stream ends without the response", held, "sse_no_response", internal,
			"the upstream's event stream ended without the response", "upstream_error"},
		{"event stream hangs past max_duration", held, "hang_sse", timeout,
			"the call ran longer than max_duration 2s and was cancelled", "timeout"},
		{"no headers past max_duration", held, "hang_headers", timeout,
			"the call ran longer than max_duration 2s and was cancelled", "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprint(5001 + i)
			v := toolCall(t, tc.url, id, tc.tool, `{}`)
			assertOneError(t, v, tc.code, tc.cause)
			if tc.outcome == "timeout" && v.Elapsed < 2*time.Second {
				t.Fatalf("max_duration 2s ended the call after %v", v.Elapsed)
			}
			// Even a call that fails at once, with grace 0, counts its
			// client as there.
			waitFinished(t, c, id, `"outcome":"`+tc.outcome+`"`, `"client_gone":false`)
			assertStillServes(t, held)
		})
	}

	t.Run("connection refused within grace", func(t *testing.T) {
		v := toolCall(t, refusedInGrace, "5100", "slow_ok", `{}`)
		if v.Status != http.StatusBadGateway {
			t.Fatalf("got %d %s, want 502 as from reverse_proxy alone: %s", v.Status, v.ContentType, v.Body)
		}
	})

	assertGoroutinesBack(t, admin, base, baseProfile)
	if strings.Contains(c.Logs(), "panic") {
		t.Fatal("caddy-stata logged a panic")
	}
}

// TestFaultClientLeaves drops the client of a held call at each phase:
// before the stream is committed, between keep-alives, and while the
// upstream's own events are relayed. The upstream call runs to its end,
// caddy-stata logs it with client_gone, keeps serving, and ends up with no
// more goroutines than before.
func TestFaultClientLeaves(t *testing.T) {
	up := startFaultUpstream(t)
	c, urls, admin := startSites(t, up.HostPort,
		faultSite,
		// A long grace period leaves time to leave before the commit.
		"\tmcp_keepalive {\n\t\tgrace 5s\n\t\tinterval 200ms\n\t}\n\treverse_proxy {upstream}",
	)
	held, longGrace := urls[0], urls[1]
	assertStillServes(t, held)
	base, baseProfile := settledGoroutines(t, admin)

	call := func(id, tool, args string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, tool, args)
	}

	t.Run("before commit", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := rawRequest(ctx, t, longGrace+"/mcp", "", call("6001", "slow_json", `{"ms":1000,"signal":true}`))
		errc := make(chan error, 1)
		go func() {
			resp, err := noKeepAlive.Do(req)
			if err == nil {
				resp.Body.Close()
				errc <- fmt.Errorf("the call was answered (%s %s) before the client left", resp.Status, resp.Header.Get("Content-Type"))
				return
			}
			errc <- nil
		}()
		select {
		case id := <-up.arrived:
			if id != "6001" {
				t.Fatalf("the upstream got call %s, want 6001", id)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the call did not reach the upstream")
		}
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		// The client had no header yet when it left; the upstream's answer
		// came all the same.
		waitFinished(t, c, "6001", `"client_gone":true`, `"outcome":"response"`)
		assertStillServes(t, held)
	})

	// leaveAfter opens a held call, reads its stream up to a line that
	// contains marker, and drops the connection.
	leaveAfter := func(t *testing.T, id, tool, args, marker string) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := noKeepAlive.Do(rawRequest(ctx, t, held+"/mcp", "", call(id, tool, args)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
			t.Fatalf("not held: %s %s", resp.Status, ct)
		}
		readUntil(t, bufio.NewReader(resp.Body), marker)
		cancel()
		resp.Body.Close()
		waitFinished(t, c, id, `"client_gone":true`, `"outcome":"response"`)
		assertStillServes(t, held)
	}
	t.Run("between keep-alives", func(t *testing.T) {
		leaveAfter(t, "6002", "slow_json", `{"ms":1500}`, ": keepalive")
	})
	t.Run("during the relay", func(t *testing.T) {
		leaveAfter(t, "6003", "slow_sse", `{"ms":1500}`, `"step 1"`)
	})

	assertGoroutinesBack(t, admin, base, baseProfile)
	if strings.Contains(c.Logs(), "panic") {
		t.Fatal("caddy-stata logged a panic")
	}
}

// readUntil reads r until a line that contains s, and fails after 10 s.
func readUntil(t *testing.T, r *bufio.Reader, s string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if strings.Contains(line, s) {
			return
		}
		if err != nil {
			t.Fatalf("reading the stream for %q: %v", s, err)
		}
	}
}
