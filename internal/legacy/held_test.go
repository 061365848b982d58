package legacy

import (
	"encoding/json"
	"testing"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// TestLegacyMaxHeld checks that a legacy call over max_held is answered 503
// with a JSON-RPC error for its id and never reaches the upstream, that each
// pending call holds one slot until it ends, however it ends, and that the
// Observer hears of every end and keep-alive.
func TestLegacyMaxHeld(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHeld = 1
	u := newUpstream(t)
	f := newFixture(t, cfg, u.serve)
	cs, id := openSession(t, f, u)
	msgs := "/messages?sessionId=" + id

	// The first call takes the only slot; the second is refused.
	if resp := f.post(msgs, toolCall(`1`, "sleep", `"a"`)); resp.StatusCode != 202 {
		t.Fatalf("POST answered %d", resp.StatusCode)
	}
	<-u.posts
	if n := f.slots.Held(); n != 1 {
		t.Fatalf("%d slots held", n)
	}
	resp, body := f.postBody(msgs, toolCall(`"two"`, "sleep", `"b"`))
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("refused POST answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var refusal struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &refusal); err != nil {
		t.Fatalf("refusal %q: %v", body, err)
	}
	if refusal.JSONRPC != "2.0" || string(refusal.ID) != `"two"` || refusal.Error.Code != mcpmsg.CodeServerBusy ||
		refusal.Error.Message != keepalive.BusyMessage {
		t.Fatalf("refusal %s", body)
	}
	if n := f.logs.FilterMessage("held call refused: too many held calls").FilterField(zap.String("transport", "legacy")).Len(); n != 1 {
		t.Fatalf("%d refusal log lines", n)
	}
	if n := f.reg.lookup(id).pending(); n != 1 {
		t.Fatalf("%d pending after the refusal", n)
	}
	cs.until(isProgress)

	// Cancelled: the slot comes back, so the next call is taken.
	f.post(msgs, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`)
	if got := string(<-u.posts); got == toolCall(`"two"`, "sleep", `"b"`) {
		t.Fatal("the refused call reached the upstream")
	}
	waitFor(t, "the slot back", func() bool { return f.slots.Held() == 0 })

	// Answered.
	if resp := f.post(msgs, toolCall(`3`, "sleep", "")); resp.StatusCode != 202 {
		t.Fatalf("POST after the slot came back answered %d", resp.StatusCode)
	}
	<-u.posts
	u.push(id, responseEvent(`3`))
	cs.until(isResponse(`3`))
	waitFor(t, "the slot back", func() bool { return f.slots.Held() == 0 })

	// Refused by the upstream.
	u.postStatus = 500
	if resp := f.post(msgs, toolCall(`4`, "sleep", "")); resp.StatusCode != 500 {
		t.Fatalf("POST answered %d", resp.StatusCode)
	}
	<-u.posts
	u.postStatus = 0
	if n := f.slots.Held(); n != 0 {
		t.Fatalf("%d slots held after a refused POST", n)
	}

	// Pending when the client goes away.
	f.post(msgs, toolCall(`5`, "sleep", `"c"`))
	<-u.posts
	cs.until(isProgress)
	cs.close()
	waitFor(t, "the session to close", func() bool { return f.reg.Len() == 0 })

	if got, want := f.obs.outcomes(), "cancelled,response,upstream_error,client_gone"; got != want {
		t.Fatalf("observed outcomes %s, want %s", got, want)
	}
	if n := f.slots.Held(); n != 0 {
		t.Fatalf("%d slots held after every call ended", n)
	}
	if n := f.obs.keepAliveCount("progress"); n < 2 {
		t.Fatalf("%d progress keep-alives observed", n)
	}
	finished := f.logs.FilterMessage("held call finished").FilterField(zap.String("transport", "legacy")).All()
	if len(finished) != 4 {
		t.Fatalf("%d finished log lines", len(finished))
	}
	if m := finished[2].ContextMap(); m["id"] != "4" || m["cause"] != "the upstream answered the POST of the call 500 Internal Server Error" {
		t.Fatalf("log fields %v", m)
	}
}

// TestLegacyUpstreamClosedStream checks that calls pending when the upstream
// ends the session's stream end as upstream errors, with the cause, and give
// their slots back; and that comment keep-alives are observed.
func TestLegacyUpstreamClosedStream(t *testing.T) {
	u := newUpstream(t)
	f := newFixture(t, testConfig(), u.serve)
	cs, id := openSession(t, f, u)
	f.post("/messages?sessionId="+id, toolCall(`1`, "sleep", ""))
	f.post("/messages?sessionId="+id, toolCall(`2`, "sleep", ""))
	waitFor(t, "a comment", func() bool { return f.obs.keepAliveCount("comment") > 0 })
	if n := f.slots.Held(); n != 2 {
		t.Fatalf("%d slots held", n)
	}
	u.end(id)
	<-cs.done
	<-f.served
	if got := f.obs.outcomes(); got != "upstream_error,upstream_error" {
		t.Fatalf("observed outcomes %s", got)
	}
	if n := f.logs.FilterMessage("held call finished").FilterField(zap.String("cause", "the upstream closed the stream")).Len(); n != 2 {
		t.Fatalf("%d log lines with the cause", n)
	}
	if n := f.slots.Held(); n != 0 {
		t.Fatalf("%d slots held", n)
	}
}

// TestLegacyReplacedCall checks that a call sent again with the same id
// replaces the pending one, which ends cancelled with the cause "replaced".
func TestLegacyReplacedCall(t *testing.T) {
	u := newUpstream(t)
	f := newFixture(t, testConfig(), u.serve)
	_, id := openSession(t, f, u)
	f.post("/messages?sessionId="+id, toolCall(`1`, "sleep", ""))
	f.post("/messages?sessionId="+id, toolCall(`1`, "sleep", ""))
	if got := f.obs.outcomes(); got != keepalive.OutcomeCancelled {
		t.Fatalf("observed outcomes %s", got)
	}
	if n := f.logs.FilterMessage("held call finished").FilterField(zap.String("cause", "replaced")).Len(); n != 1 {
		t.Fatalf("%d log lines with the cause", n)
	}
	if n := f.slots.Held(); n != 1 {
		t.Fatalf("%d slots held", n)
	}
}
