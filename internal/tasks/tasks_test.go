package tasks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestIDRoundTrip(t *testing.T) {
	created := time.UnixMilli(1796370000123)
	id := ID{Stream: strings.Repeat("ab", 16), Created: created, TTL: 90 * time.Minute}
	got, ok := ParseID(id.String())
	if !ok || got.Stream != id.Stream || !got.Created.Equal(created) || got.TTL != id.TTL {
		t.Fatalf("ParseID(%q) = %+v, %v", id.String(), got, ok)
	}
	if !got.Expires().Equal(created.Add(90 * time.Minute)) {
		t.Fatalf("expires %v", got.Expires())
	}
	for _, bad := range []string{"", "x", strings.Repeat("g", 32) + ".1.1", strings.Repeat("a", 32) + ".1.0", strings.Repeat("a", 31) + ".1.1", strings.Repeat("a", 32) + ".1"} {
		if _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

func TestStrip(t *testing.T) {
	up, ttl, err := Strip([]byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t","arguments":{"a":1},"task":{"ttl":5000}}}`), "tok")
	if err != nil || ttl != 5000 {
		t.Fatalf("Strip: %v, ttl %d", err, ttl)
	}
	if s := string(up); strings.Contains(s, `"task"`) || !strings.Contains(s, `"progressToken":"tok"`) || !strings.Contains(s, `"arguments":{"a":1}`) || !strings.Contains(s, `"id":7`) {
		t.Fatalf("upstream body %s", up)
	}
	up, ttl, err = Strip([]byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t","task":{},"_meta":{"progressToken":3}}}`), "tok")
	if err != nil || ttl != 0 || !strings.Contains(string(up), `"progressToken":3`) {
		t.Fatalf("Strip kept the client's token? %s %v", up, err)
	}
	if _, _, err := Strip([]byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t"}}`), "tok"); err == nil {
		t.Fatal("Strip of a call without a task succeeded")
	}
}

func TestPayloadAndOutcome(t *testing.T) {
	resp := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}],"_meta":{"x":1}}}`)
	out, err := Payload(resp, json.RawMessage(`"r-1"`), "TASK")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID     string `json:"id"`
		Result struct {
			Content []any          `json:"content"`
			Meta    map[string]any `json:"_meta"`
		} `json:"result"`
	}
	if err := json.Unmarshal(out, &m); err != nil || m.ID != "r-1" || len(m.Result.Content) != 1 || m.Result.Meta["x"] != 1.0 ||
		m.Result.Meta[RelatedTaskKey].(map[string]any)["taskId"] != "TASK" {
		t.Fatalf("Payload %s", out)
	}
	if s, _ := Outcome(resp); s != Completed {
		t.Fatalf("Outcome of a result: %s", s)
	}
	if s, msg := Outcome([]byte(`{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"boom"}}`)); s != Failed || msg != "boom" {
		t.Fatalf("Outcome of an error: %s %q", s, msg)
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	now := time.Now()
	var ids []string
	for i := range 5 {
		id := ID{Stream: strings.Repeat("0", 31) + string(rune('a'+i)), Created: now, TTL: time.Minute}
		if !r.Room("s", 5, now) {
			t.Fatalf("no room for task %d of 5", i)
		}
		r.Add("s", NewEntry(id, json.RawMessage("1")))
		ids = append(ids, id.String())
	}
	if r.Room("s", 5, now) || !r.Room("other", 5, now) {
		t.Fatal("Room ignores the limit, or counts other sessions")
	}
	var got []string
	cursor := ""
	for {
		page, next, err := r.List("s", cursor, 2, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			got = append(got, e.ID.String())
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("pages %v, want %v", got, ids)
	}
	if _, _, err := r.List("s", "bogus", 2, now); err != ErrCursor {
		t.Fatalf("bad cursor: %v", err)
	}
	if r.Get("other", ids[0]) != nil || r.Get("s", ids[0]) == nil {
		t.Fatal("Get ignores the owner")
	}
	later := now.Add(90 * time.Second)
	if page, _, _ := r.List("s", "", 10, later); len(page) != 0 || r.Get("s", ids[0]) == nil || !r.Room("s", 5, later) {
		t.Fatal("an expired task is listed, forgotten too soon, or counted")
	}
	if r.Room("s", 5, now.Add(3*time.Minute)); r.Get("s", ids[0]) != nil {
		t.Fatal("an expired task is kept past twice its ttl")
	}
	e := NewEntry(ID{Created: now, TTL: time.Minute}, nil)
	if !e.Finish(Completed, "", now) || e.Finish(Cancelled, "", now) {
		t.Fatal("a terminal status changed")
	}
	if s, _, _ := e.State(); s != Completed {
		t.Fatalf("status %s", s)
	}
}

func TestAdvertise(t *testing.T) {
	out, declared, err := AdvertiseInitialize(json.RawMessage(`{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}`))
	if err != nil || declared || !strings.Contains(string(out), `"tasks":{"list":{},"cancel":{},"requests":{"tools":{"call":{}}}}`) {
		t.Fatalf("initialize: %s %v %v", out, declared, err)
	}
	own := json.RawMessage(`{"capabilities":{"tasks":{"list":{}}}}`)
	if out, declared, _ := AdvertiseInitialize(own); !declared || string(out) != string(own) {
		t.Fatalf("an upstream's own tasks: %s %v", out, declared)
	}
	tools, err := AdvertiseTools(json.RawMessage(`{"tools":[{"name":"held"},{"name":"f","execution":{"taskSupport":"forbidden"}},{"name":"r","execution":{"taskSupport":"required"}},{"name":"not"}]}`),
		func(name string) bool { return name != "not" })
	want := `{"tools":[{"execution":{"taskSupport":"optional"},"name":"held"},{"execution":{"taskSupport":"optional"},"name":"f"},{"execution":{"taskSupport":"required"},"name":"r"},{"name":"not"}]}`
	if err != nil || string(tools) != want {
		t.Fatalf("tools/list: %s %v", tools, err)
	}
}

func TestV2(t *testing.T) {
	declared := json.RawMessage(`{"name":"t","_meta":{"io.modelcontextprotocol/clientCapabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}}}`)
	if !RequestedV2(declared) || RequestedV2(json.RawMessage(`{"name":"t","_meta":{}}`)) || RequestedV2(json.RawMessage(`{"name":"t"}`)) {
		t.Fatal("RequestedV2 misreads the client capabilities")
	}
	up, err := WithToken([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":`+string(declared)+`}`), "tok")
	if err != nil || !strings.Contains(string(up), `"progressToken":"tok"`) || !strings.Contains(string(up), ExtensionID) {
		t.Fatalf("WithToken: %s %v", up, err)
	}
	task := New(ID{Stream: strings.Repeat("a", 32), Created: time.UnixMilli(0), TTL: time.Minute}, Completed, "", time.UnixMilli(0), time.Second)
	v, err := V2(task, "complete", []byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`))
	b, _ := json.Marshal(v)
	if err != nil || !strings.Contains(string(b), `"resultType":"complete"`) || !strings.Contains(string(b), `"ttlMs":60000`) ||
		!strings.Contains(string(b), `"result":{"content":[]}`) || strings.Contains(string(b), `"error"`) {
		t.Fatalf("V2: %s %v", b, err)
	}
	out, own, err := AdvertiseDiscover(json.RawMessage(`{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}}}`))
	if err != nil || own || !strings.Contains(string(out), `"extensions":{"io.modelcontextprotocol/tasks":{}}`) {
		t.Fatalf("AdvertiseDiscover: %s %v %v", out, own, err)
	}
	if _, own, _ := AdvertiseDiscover(out); !own {
		t.Fatal("an upstream's own extension is not seen")
	}
}
