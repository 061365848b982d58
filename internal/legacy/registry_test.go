package legacy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

func TestRegistryReplaceAndRemove(t *testing.T) {
	reg := NewRegistry()
	a, b := newSession("x", zap.NewNop()), newSession("x", zap.NewNop())
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

// newCall returns a pending call started ago.
func newCall(id, token string, ago time.Duration) *call {
	c := &call{id: json.RawMessage(id), tool: "sleep", start: time.Now().Add(-ago)}
	if token != "" {
		c.token = json.RawMessage(token)
	}
	return c
}

func TestSessionCalls(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s := newSession("x", zap.New(core))
	s.add(newCall(`1`, `"a"`, 0))
	s.add(newCall(`1.0`, `"b"`, 0)) // the same id: replaces
	s.add(newCall(`"1"`, "", 0))    // a string: another id
	if n := s.pending(); n != 2 {
		t.Fatalf("%d pending", n)
	}
	if !s.endID(json.RawMessage(`1e0`), OutcomeResponse) || s.endID(json.RawMessage(`1`), OutcomeResponse) {
		t.Fatal("endID did not end exactly one call")
	}
	s.close()
	if s.add(newCall(`2`, "", 0)) || s.pending() != 0 {
		t.Fatal("a closed session took a call")
	}
	var outcomes []string
	for _, e := range logs.FilterMessage("legacy call finished").All() {
		outcomes = append(outcomes, e.ContextMap()["outcome"].(string))
	}
	if got := strings.Join(outcomes, ","); got != "replaced,response,stream_closed" {
		t.Fatalf("outcomes %s", got)
	}
}

func TestSessionKeepAlive(t *testing.T) {
	s := newSession("x", zap.NewNop())
	if notes, pending := s.keepAlive(true, time.Hour); notes != nil || pending {
		t.Fatal("keep-alive for no call")
	}
	s.add(newCall(`1`, `"a"`, 90*time.Second))
	s.add(newCall(`2`, "", 0))
	s.add(newCall(`3`, `7`, 2*time.Hour))
	notes, pending := s.keepAlive(true, time.Hour)
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
	if notes, _ := s.keepAlive(true, time.Hour); len(notes) != 0 {
		t.Fatalf("invented progress beside the upstream's: %q", notes)
	}
	notes, _ = s.keepAlive(true, time.Hour)
	m, _ = mcpmsg.Parse(notes[0])
	if pp, _ := mcpmsg.ParseProgress(m.Params); pp.Progress != 6 {
		t.Fatalf("invented %v after the upstream's 5", pp.Progress)
	}
	if notes, pending := s.keepAlive(false, time.Hour); len(notes) != 0 || !pending {
		t.Fatal("progress off still sends progress")
	}
}
