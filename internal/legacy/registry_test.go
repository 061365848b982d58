package legacy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

func TestRegistryReplaceAndRemove(t *testing.T) {
	reg := NewRegistry()
	a, b := newSession("x"), newSession("x")
	reg.add(a)
	reg.add(b)
	if reg.lookup("x") != b || reg.Len() != 1 {
		t.Fatal("the newer session must replace the older")
	}
	reg.remove(a)
	if reg.lookup("x") != b {
		t.Fatal("removing the replaced session removed its replacement")
	}
	reg.remove(b)
	if reg.lookup("x") != nil || reg.Len() != 0 {
		t.Fatal("the session was not removed")
	}
}

// newCall returns a call of tr started ago, holding one of tr's slots as a
// pending call does.
func newCall(tr *Tracker, id, token string, ago time.Duration) *call {
	c := &call{Call: &keepalive.Call{ID: json.RawMessage(id), Tool: "sleep", Start: time.Now().Add(-ago)}, t: tr}
	if token != "" {
		c.Token = json.RawMessage(token)
	}
	if !tr.slots.Acquire(tr.cfg.MaxHeld) {
		panic("no slot")
	}
	return c
}

func TestSessionCalls(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	slots := new(keepalive.Slots)
	tr := New(keepalive.DefaultConfig(), slots, nil, zap.New(core))
	obs := new(recorder)
	tr.Observer = obs
	s := newSession("x")
	s.add(newCall(tr, `1`, `"a"`, 0))
	s.add(newCall(tr, `1.0`, `"b"`, 0)) // the same id: replaces
	s.add(newCall(tr, `"1"`, "", 0))    // a string: another id
	if n := s.pending(); n != 2 {
		t.Fatalf("%d pending", n)
	}
	if !s.endID(json.RawMessage(`1e0`), keepalive.OutcomeResponse) || s.endID(json.RawMessage(`1`), keepalive.OutcomeResponse) {
		t.Fatal("endID did not end exactly one call")
	}
	s.close(keepalive.OutcomeClientGone, "")
	if s.add(&call{Call: &keepalive.Call{ID: json.RawMessage(`2`)}, t: tr}) || s.pending() != 0 {
		t.Fatal("a closed session took a call")
	}
	var outcomes, causes []string
	for _, e := range logs.FilterMessage("held call finished").All() {
		m := e.ContextMap()
		if m["transport"] != "legacy" {
			t.Fatalf("log fields %v", m)
		}
		outcomes = append(outcomes, m["outcome"].(string))
		causes = append(causes, m["cause"].(string))
	}
	if got := strings.Join(outcomes, ","); got != "cancelled,response,client_gone" {
		t.Fatalf("outcomes %s", got)
	}
	if got := strings.Join(causes, ","); got != "replaced,," {
		t.Fatalf("causes %q", got)
	}
	if got := obs.outcomes(); got != "cancelled,response,client_gone" {
		t.Fatalf("observed outcomes %s", got)
	}
	if n := slots.Held(); n != 0 {
		t.Fatalf("%d slots still held", n)
	}
}

func TestSessionKeepAlive(t *testing.T) {
	tr := New(keepalive.DefaultConfig(), nil, nil, nil)
	s := newSession("x")
	if notes, _, pending := s.keepAlive(true, time.Hour); notes != nil || pending {
		t.Fatal("keep-alive for no call")
	}
	s.add(newCall(tr, `1`, `"a"`, 90*time.Second))
	s.add(newCall(tr, `2`, "", 0))
	s.add(newCall(tr, `3`, `7`, 2*time.Hour))
	notes, _, pending := s.keepAlive(true, time.Hour)
	if !pending || len(notes) != 1 || s.pending() != 2 {
		t.Fatalf("notes %q, pending %d", notes, s.pending())
	}
	m, _ := mcpmsg.Parse(notes[0])
	pp, _ := mcpmsg.ParseProgress(m.Params)
	if string(pp.Token) != `"a"` || pp.Progress != 1 || pp.Message != "sleep: running for 1m30s" {
		t.Fatalf("note %s", notes[0])
	}
	// The upstream's own progress pauses the invented for one keep-alive.
	if s.upstreamProgress(&mcpmsg.ProgressParams{Token: json.RawMessage(`"a"`), Progress: 5}) != nil {
		t.Fatal("an increasing upstream value was changed")
	}
	if notes, upstream, _ := s.keepAlive(true, time.Hour); len(notes) != 0 || !upstream {
		t.Fatalf("invented progress beside the upstream's: %q", notes)
	}
	notes, _, _ = s.keepAlive(true, time.Hour)
	m, _ = mcpmsg.Parse(notes[0])
	if pp, _ := mcpmsg.ParseProgress(m.Params); pp.Progress != 6 {
		t.Fatalf("invented %v after the upstream's 5", pp.Progress)
	}
	if notes, _, pending := s.keepAlive(false, time.Hour); len(notes) != 0 || !pending {
		t.Fatal("progress off still sends progress")
	}
}
