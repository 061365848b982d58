package legacy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// toolCall returns a tools/call request; token "" sends none.
func toolCall(id, tool, token string) string {
	meta := ""
	if token != "" {
		meta = `,"_meta":{"progressToken":` + token + `}`
	}
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}` + meta + `}}`
}

// responseEvent returns the event that carries the response to id, as the
// TypeScript SDK's server writes it.
func responseEvent(id string) string {
	return `event: message` + "\n" + `data: {"result":{"content":[{"type":"text","text":"done"}]},"jsonrpc":"2.0","id":` + id + `}` + "\n\n"
}

// isProgress reports whether ev is a progress notification.
func isProgress(ev sse.Event) bool {
	m, err := mcpmsg.Parse([]byte(ev.Data))
	return err == nil && m.Method == mcpmsg.MethodProgress
}

// isResponse returns a test for the response to id.
func isResponse(id string) func(sse.Event) bool {
	return func(ev sse.Event) bool {
		m, err := mcpmsg.Parse([]byte(ev.Data))
		return err == nil && m.IsResponse() && mcpmsg.SameID(m.ID, json.RawMessage(id))
	}
}

// progressOf returns the params of the progress notifications among evs.
func progressOf(t *testing.T, evs []sse.Event) []mcpmsg.ProgressParams {
	t.Helper()
	var out []mcpmsg.ProgressParams
	for _, ev := range evs {
		if !isProgress(ev) {
			continue
		}
		if ev.Name != "message" {
			t.Fatalf("progress in an event named %q", ev.Name)
		}
		m, _ := mcpmsg.Parse([]byte(ev.Data))
		pp, err := mcpmsg.ParseProgress(m.Params)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pp)
	}
	return out
}

// assertIncreasing fails unless the values strictly increase.
func assertIncreasing(t *testing.T, pps []mcpmsg.ProgressParams) {
	t.Helper()
	for i := 1; i < len(pps); i++ {
		if pps[i].Progress <= pps[i-1].Progress {
			t.Fatalf("progress went from %v to %v", pps[i-1].Progress, pps[i].Progress)
		}
	}
}

// openSession opens a legacy session's stream and returns it and its id,
// after its endpoint event.
func openSession(t *testing.T, f *fixture, u *upstream) (*clientStream, string) {
	t.Helper()
	cs := f.open("/sse", nil)
	if ev := cs.next(); ev.Name != "endpoint" {
		t.Fatalf("first event %+v", ev)
	}
	return cs, <-u.opened
}

// TestLegacyProgressInjected follows one call: progress for its token while
// it runs, strictly increasing and naming the tool, never inside an upstream
// event that arrives in pieces, and none after its response.
func TestLegacyProgressInjected(t *testing.T) {
	cfg := testConfig()
	u := newUpstream(t)
	f := newFixture(t, cfg, u.serve)
	cs, id := openSession(t, f, u)
	if resp := f.post("/messages?sessionId="+id, toolCall(`7`, "sleep", `"tok"`)); resp.StatusCode != 202 {
		t.Fatalf("POST answered %d", resp.StatusCode)
	}
	if got := string(<-u.posts); got != toolCall(`7`, "sleep", `"tok"`) {
		t.Fatalf("the upstream got %q", got)
	}
	first := cs.until(isProgress)

	// An event cut in the middle of a line, its halves far apart.
	note := `event: message` + "\n" + `data: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"half"}}` + "\n\n"
	u.push(id, note[:30])
	time.Sleep(5 * cfg.Interval)
	u.push(id, note[30:])
	time.Sleep(3 * cfg.Interval)
	u.push(id, responseEvent(`7`))
	evs := append(first, cs.until(isResponse(`7`))...)
	after := cs.quiet(5 * cfg.Interval)

	pps := progressOf(t, evs)
	if len(pps) < 5 {
		t.Fatalf("%d progress notifications, want at least 5", len(pps))
	}
	assertIncreasing(t, pps)
	for _, pp := range pps {
		if string(pp.Token) != `"tok"` || !strings.HasPrefix(pp.Message, "sleep: running for ") {
			t.Fatalf("progress %+v", pp)
		}
	}
	var intact bool
	for _, ev := range evs {
		intact = intact || ev.Data == `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"half"}}`
	}
	if !intact || !strings.Contains(string(cs.bytes()), note) {
		t.Fatalf("the upstream's event did not arrive whole:\n%s", cs.bytes())
	}
	if len(after) != 0 {
		t.Fatalf("events after the response: %+v", after)
	}
	if strings.Contains(string(cs.bytes()), ": keepalive") {
		t.Fatal("a comment was sent while progress was")
	}
	if f.reg.lookup(id).pending() != 0 {
		t.Fatal("the call is still pending")
	}
	if n := f.logs.FilterMessage("held call finished").Len(); n != 1 {
		t.Fatalf("%d log lines", n)
	}
}

// TestLegacyCommentsWithoutProgress checks that a pending call without a
// token, or with progress off, gets comment lines, and only until its
// response.
func TestLegacyCommentsWithoutProgress(t *testing.T) {
	for _, tc := range []struct {
		name     string
		token    string
		progress bool
	}{{"no token", "", true}, {"progress off", `"tok"`, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Progress = tc.progress
			u := newUpstream(t)
			f := newFixture(t, cfg, u.serve)
			cs, id := openSession(t, f, u)
			f.post("/messages?sessionId="+id, toolCall(`"a"`, "sleep", tc.token))
			<-u.posts
			waitFor(t, "three comments", func() bool { return strings.Count(string(cs.bytes()), ": keepalive\n\n") >= 3 })
			u.push(id, responseEvent(`"a"`))
			evs := cs.until(isResponse(`"a"`))
			n := strings.Count(string(cs.bytes()), ": keepalive")
			time.Sleep(5 * cfg.Interval)
			if m := strings.Count(string(cs.bytes()), ": keepalive"); m != n {
				t.Fatalf("%d comments after the response", m-n)
			}
			if pps := progressOf(t, evs); len(pps) != 0 {
				t.Fatalf("progress sent: %+v", pps)
			}
		})
	}
}

// TestLegacyIdleSessionQuiet checks that nothing is injected while no call is
// pending: before the first, for a call of a tool not kept alive, and for
// other messages.
func TestLegacyIdleSessionQuiet(t *testing.T) {
	cfg := testConfig()
	cfg.Tools = []string{"stata_*"}
	u := newUpstream(t)
	f := newFixture(t, cfg, u.serve)
	cs, id := openSession(t, f, u)
	f.post("/messages?sessionId="+id, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	f.post("/messages?sessionId="+id, toolCall(`2`, "sleep", `"t"`))
	f.post("/messages?sessionId="+id, `[`+toolCall(`3`, "stata_run", `"t"`)+`]`)
	time.Sleep(5 * cfg.Interval)
	if got := string(cs.bytes()); got != "event: endpoint\ndata: /messages?sessionId=session-1\n\n" {
		t.Fatalf("injected: %q", got)
	}
	f.post("/messages?sessionId="+id, toolCall(`4`, "stata_run", `"t"`))
	cs.until(isProgress)
}

// TestLegacyCancelledEndsCall checks that notifications/cancelled for a
// pending call ends it, and that it still reaches the upstream.
func TestLegacyCancelledEndsCall(t *testing.T) {
	cfg := testConfig()
	u := newUpstream(t)
	f := newFixture(t, cfg, u.serve)
	cs, id := openSession(t, f, u)
	f.post("/messages?sessionId="+id, toolCall(`1`, "sleep", `"a"`))
	f.post("/messages?sessionId="+id, toolCall(`2`, "sleep", `"b"`))
	cs.until(isProgress)
	cancel := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1.0,"reason":"timeout"}}`
	f.post("/messages?sessionId="+id, cancel)
	for range 2 {
		<-u.posts
	}
	if got := string(<-u.posts); got != cancel {
		t.Fatalf("the upstream got %q", got)
	}
	cs.quiet(2 * cfg.Interval)
	for _, pp := range progressOf(t, cs.quiet(4*cfg.Interval)) {
		if string(pp.Token) != `"b"` {
			t.Fatalf("progress for a cancelled call: %+v", pp)
		}
	}
	if n := f.reg.lookup(id).pending(); n != 1 {
		t.Fatalf("%d calls pending", n)
	}
}

// TestLegacySessionsSeparate checks that each session's stream carries
// progress for its own calls only.
func TestLegacySessionsSeparate(t *testing.T) {
	cfg := testConfig()
	u := newUpstream(t)
	f := newFixture(t, cfg, u.serve)
	streams := map[string]*clientStream{}
	for _, tok := range []string{"a", "b", "c"} {
		cs, id := openSession(t, f, u)
		streams[tok] = cs
		if tok != "c" {
			f.post("/messages?sessionId="+id, toolCall(`1`, "sleep", `"`+tok+`"`))
		}
	}
	time.Sleep(6 * cfg.Interval)
	for tok, cs := range streams {
		pps := progressOf(t, cs.quiet(2*cfg.Interval))
		if tok == "c" {
			if len(pps) != 0 {
				t.Fatalf("progress in a session with no call: %+v", pps)
			}
			continue
		}
		if len(pps) < 3 {
			t.Fatalf("session %s: %d progress notifications", tok, len(pps))
		}
		assertIncreasing(t, pps)
		for _, pp := range pps {
			if string(pp.Token) != `"`+tok+`"` {
				t.Fatalf("session %s got progress for %s", tok, pp.Token)
			}
		}
	}
}

// TestLegacyUpstreamProgress checks the upstream's own progress for a pending
// token: it passes unchanged while it increases, is shifted when it would
// not, and stops the invented progress while it flows.
func TestLegacyUpstreamProgress(t *testing.T) {
	cfg := testConfig()
	cfg.Interval = 40 * time.Millisecond
	u := newUpstream(t)
	f := newFixture(t, cfg, u.serve)
	cs, id := openSession(t, f, u)
	f.post("/messages?sessionId="+id, toolCall(`1`, "sleep", `5`))
	<-u.posts
	cs.until(isProgress)
	cs.until(isProgress) // at least 2 sent
	own := func(v int) string {
		return fmt.Sprintf("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":5,\"progress\":%d,\"total\":100,\"message\":\"own\"}}\n\n", v)
	}
	for v := 1; v <= 8; v++ {
		u.push(id, own(v))
		time.Sleep(cfg.Interval / 4)
	}
	u.push(id, responseEvent(`1`))
	evs := cs.until(isResponse(`1`))
	pps := progressOf(t, evs)
	assertIncreasing(t, pps)
	var owns, invented int
	var shift float64
	for _, pp := range pps {
		if pp.Message != "own" {
			invented++
			continue
		}
		owns++
		if pp.Total == nil || *pp.Total-pp.Progress != 100-float64(owns) {
			t.Fatalf("own progress %+v: total not shifted with it", pp)
		}
		shift = pp.Progress - float64(owns)
	}
	if owns != 8 || shift <= 0 {
		t.Fatalf("%d own notifications, shift %v: %+v", owns, shift, pps)
	}
	if invented > 1 {
		t.Fatalf("%d invented notifications while the upstream sent its own", invented)
	}
}

// TestLegacyPostFailedEndsCall checks that a call whose POST the upstream
// refuses is not kept alive.
func TestLegacyPostFailedEndsCall(t *testing.T) {
	cfg := testConfig()
	u := newUpstream(t)
	f := newFixture(t, cfg, u.serve)
	_, id := openSession(t, f, u)
	u.postStatus = 400 // read by the upstream only for POSTs, after this write
	if resp := f.post("/messages?sessionId="+id, toolCall(`1`, "sleep", `"a"`)); resp.StatusCode != 400 {
		t.Fatalf("POST answered %d", resp.StatusCode)
	}
	if n := f.reg.lookup(id).pending(); n != 0 {
		t.Fatalf("%d calls pending", n)
	}
	if n := f.logs.FilterMessage("held call finished").FilterFieldKey("outcome").All(); len(n) != 1 || n[0].ContextMap()["outcome"] != keepalive.OutcomeUpstreamError {
		t.Fatalf("log %+v", n)
	}
}

// TestLegacyMaxDuration checks that a call pending for max_duration gets no
// more keep-alives.
func TestLegacyMaxDuration(t *testing.T) {
	cfg := testConfig()
	cfg.MaxDuration = 5 * cfg.Interval
	u := newUpstream(t)
	f := newFixture(t, cfg, u.serve)
	cs, id := openSession(t, f, u)
	f.post("/messages?sessionId="+id, toolCall(`1`, "sleep", `"a"`))
	waitFor(t, "the call to end", func() bool { return f.reg.lookup(id).pending() == 0 })
	cs.quiet(cfg.Interval)
	if evs := cs.quiet(4 * cfg.Interval); len(evs) != 0 {
		t.Fatalf("events after max_duration: %+v", evs)
	}
	if n := f.logs.FilterMessage("held call finished").All(); len(n) != 1 || n[0].ContextMap()["outcome"] != keepalive.OutcomeTimeout {
		t.Fatalf("log %+v", n)
	}
	if got := f.obs.outcomes(); got != keepalive.OutcomeTimeout || f.slots.Held() != 0 {
		t.Fatalf("observed %s, %d slots held", got, f.slots.Held())
	}
}

// TestLegacyLargeResponse checks that a response of megabytes, written in
// many pieces while keep-alives are due, arrives whole and ends its call.
func TestLegacyLargeResponse(t *testing.T) {
	cfg := testConfig()
	cfg.Interval = 2 * time.Millisecond
	u := newUpstream(t)
	f := newFixture(t, cfg, u.serve)
	cs, id := openSession(t, f, u)
	f.post("/messages?sessionId="+id, toolCall(`1`, "sleep", `"a"`))
	cs.until(isProgress)
	text := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB
	ev := `event: message` + "\n" + `data: {"result":{"content":[{"type":"text","text":"` + text + `"}]},"jsonrpc":"2.0","id":1}` + "\n\n"
	for i := 0; i < len(ev); i += 64 << 10 {
		u.push(id, ev[i:min(i+64<<10, len(ev))])
		time.Sleep(time.Millisecond)
	}
	evs := cs.until(isResponse(`1`))
	if last := evs[len(evs)-1]; !strings.Contains(last.Data, text) || !strings.Contains(string(cs.bytes()), ev) {
		t.Fatal("the response did not arrive whole")
	}
	if n := f.reg.lookup(id).pending(); n != 0 {
		t.Fatalf("%d calls pending", n)
	}
}
