package stdio

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestIDsAndTokensRemapped has two sessions call at once with the same id
// and the same progress token on one worker: each gets its own progress
// and its own answer, under its own id and token.
func TestIDsAndTokensRemapped(t *testing.T) {
	_, url := startPool(t, Config{MinWorkers: 1, MaxWorkers: 1}, 1)
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		sess, _ := initialize(t, url, "2025-06-18", `{}`)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := post(t, url, sess, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sleep",`+
				`"arguments":{"ms":600,"steps":3,"text":"`+name+` "},"_meta":{"progressToken":"tok"}}}`)
			msgs := messages(t, resp)
			if len(msgs) != 4 {
				t.Errorf("%s: %d messages, want 3 progress and the response: %v", name, len(msgs), msgs)
				return
			}
			for i, m := range msgs[:3] {
				params, _ := m["params"].(map[string]any)
				if m["method"] != "notifications/progress" || params["progressToken"] != "tok" || params["progress"] != float64(i+1) {
					t.Errorf("%s: message %d is %v", name, i, m)
				}
			}
			last := msgs[3]
			if last["id"] != float64(7) || !strings.HasPrefix(text(last), name+" slept 600 ms") {
				t.Errorf("%s: response %v", name, last)
			}
		}()
	}
	wg.Wait()
}

// TestInitializeNegotiates answers each client's initialize with the
// worker's result at the client's revision, or the worker's for one the
// pool does not know.
func TestInitializeNegotiates(t *testing.T) {
	_, url := startPool(t, Config{MinWorkers: 1}, 1)
	for asked, want := range map[string]string{"2025-03-26": "2025-03-26", "2025-06-18": "2025-06-18", "1999-01-01": protocolVersion} {
		_, res := initialize(t, url, asked, `{}`)
		info, _ := res["serverInfo"].(map[string]any)
		if res["protocolVersion"] != want || info["name"] != "stdioserver" || res["capabilities"] == nil {
			t.Errorf("asked %s, got %v", asked, res)
		}
	}
}

// TestCancel passes a client's notifications/cancelled to the worker: the
// call ends with an error at once and the worker is free again.
func TestCancel(t *testing.T) {
	p, url := startPool(t, Config{MinWorkers: 1, MaxWorkers: 1}, 1)
	sess, _ := initialize(t, url, "2025-06-18", `{}`)
	done := make(chan []map[string]any, 1)
	go func() {
		done <- messages(t, post(t, url, sess, `{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"sleep","arguments":{"ms":30000}}}`))
	}()
	waitFor(t, 10*time.Second, "the call running", func() bool { return p.Health().Workers[0].Inflight == 1 })
	if resp := post(t, url, sess, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"x","reason":"enough"}}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel: status %d", resp.StatusCode)
	}
	select {
	case msgs := <-done:
		if len(msgs) != 1 || msgs[0]["id"] != "x" || !strings.Contains(fmt.Sprint(msgs[0]["error"]), "cancelled by the client") {
			t.Fatalf("the cancelled call got %v", msgs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled call did not end")
	}
	h := p.Health()
	if h.Workers[0].Inflight != 0 || h.Calls["cancelled"] != 1 || h.Restarts != 0 {
		t.Fatalf("after the cancel: %+v", h)
	}
	// The worker is not stuck: the next call runs.
	msgs := messages(t, post(t, url, sess, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"next"}}}`))
	if !strings.HasPrefix(text(msgs[0]), "next pid ") {
		t.Fatalf("next call: %v", msgs)
	}
}

// TestRequestTimeout ends a call that runs past RequestTimeout with the
// SDKs' timeout code.
func TestRequestTimeout(t *testing.T) {
	_, url := startPool(t, Config{MinWorkers: 1, RequestTimeout: 300 * time.Millisecond}, 1)
	sess, _ := initialize(t, url, "2025-06-18", `{}`)
	start := time.Now()
	msgs := messages(t, post(t, url, sess, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":10000}}}`))
	e, _ := msgs[0]["error"].(map[string]any)
	if e["code"] != float64(codeRequestTimeout) || !strings.Contains(e["message"].(string), "request_timeout") {
		t.Fatalf("got %v", msgs)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the timeout came after %v", d)
	}
}

// TestQueueFull refuses a call with 503 when the workers are full at
// MaxWorkers and MaxQueue calls wait.
func TestQueueFull(t *testing.T) {
	p, url := startPool(t, Config{MinWorkers: 1, MaxWorkers: 1, MaxInflight: 1, MaxQueue: 1}, 1)
	sess, _ := initialize(t, url, "2025-06-18", `{}`)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := messages(t, post(t, url, sess, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":1500}}}`, i)))
			if !strings.HasPrefix(text(msgs[0]), "slept 1500 ms") {
				t.Errorf("call %d: %v", i, msgs)
			}
		}()
	}
	waitFor(t, 10*time.Second, "one call running and one queued", func() bool { return p.QueueLength() == 1 })
	resp := post(t, url, sess, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`)
	msgs := messages(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || msgs[0]["id"] != float64(9) || msgs[0]["error"] == nil {
		t.Fatalf("over the queue: status %d, %v", resp.StatusCode, msgs)
	}
	wg.Wait()
	if h := p.Health(); h.Calls["rejected"] != 1 || h.Calls["ok"] != 2 {
		t.Fatalf("calls: %v", h.Calls)
	}
}

// TestSessions checks the session rules: a request needs a known session,
// DELETE ends one, GET with Accept: application/json is the health report.
func TestSessions(t *testing.T) {
	_, url := startPool(t, Config{MinWorkers: 1}, 1)
	if resp := post(t, url, "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no session: status %d", resp.StatusCode)
	}
	if resp := post(t, url, "nope", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown session: status %d", resp.StatusCode)
	}
	if resp := post(t, url, "", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("batch: status %d", resp.StatusCode)
	}
	sess, _ := initialize(t, url, "2025-06-18", `{}`)
	msgs := messages(t, post(t, url, sess, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if b, _ := json.Marshal(msgs); !strings.Contains(string(b), `"name":"sleep"`) {
		t.Errorf("tools/list: %s", b)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var h Report
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || h.Sessions != 1 || len(h.Workers) != 1 || h.Workers[0].PID == 0 || h.Workers[0].Served != 1 {
		t.Errorf("health report: %v %+v", err, h)
	}
	req, _ = http.NewRequest(http.MethodDelete, url, nil)
	req.Header.Set(headerSession, sess)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE: status %d", resp.StatusCode)
	}
	if resp := post(t, url, sess, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after DELETE: status %d", resp.StatusCode)
	}
}

// TestProgramExitsAtOnce reports a program that exits at once, and answers
// a client's initialize with an error that says why.
func TestProgramExitsAtOnce(t *testing.T) {
	p, err := New(Config{Command: []string{"sh", "-c", "exit 7"}, MinWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Wait()
	defer p.Close()
	waitFor(t, 10*time.Second, "a failure reported", func() bool { return p.Health().LastError != "" })
	if h := p.Health(); !strings.Contains(h.LastError, "exited before answering initialize (exit status 7)") {
		t.Fatalf("last error %q", h.LastError)
	}
}

// TestConfigErrors checks Validate.
func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Command: []string{""}},
		{Command: []string{"sh"}, MinWorkers: 3, MaxWorkers: 2},
		{Command: []string{"sh"}, MaxQueue: -1},
		{Command: []string{"sh"}, IdleTimeout: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestClientGoneIsNotCancel drops a client's connection mid-call: the call
// runs on to its end on the worker (protocols up to 2025-11-25).
func TestClientGoneIsNotCancel(t *testing.T) {
	p, url := startPool(t, Config{MinWorkers: 1}, 1)
	sess, _ := initialize(t, url, "2025-06-18", `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url,
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":1000}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(headerSession, sess)
	go func() {
		defer cancel()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if p.Health().Workers[0].Inflight == 1 {
				return
			}
		}
	}()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the request was not dropped")
	}
	waitFor(t, 10*time.Second, "the dropped call answered by the worker", func() bool { return p.Health().Calls["ok"] == 1 })
	if h := p.Health(); h.Calls["cancelled"] != 0 || h.Workers[0].Served != 1 {
		t.Fatalf("after the drop: %+v", h)
	}
}

// TestServerRequestsShareAWorker has two sessions that both declared
// sampling call a tool that asks for a sampling on the one worker: the
// second call's request goes to its own client even though the first
// call's is still pending, and each call ends with its own client's answer.
func TestServerRequestsShareAWorker(t *testing.T) {
	_, url := startPool(t, Config{MinWorkers: 1, MaxWorkers: 1}, 1)
	type party struct {
		sess   string
		events *bufio.Scanner
	}
	start := func(name string) party {
		sess, _ := initialize(t, url, "2025-06-18", `{"sampling":{}}`)
		resp := post(t, url, sess, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sample","arguments":{"text":"`+name+`"}}}`)
		return party{sess, bufio.NewScanner(resp.Body)}
	}
	// next returns the next message on a party's stream.
	next := func(p party) map[string]any {
		for p.events.Scan() {
			if data, ok := strings.CutPrefix(p.events.Text(), "data: "); ok {
				var m map[string]any
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					t.Fatal(err)
				}
				return m
			}
		}
		t.Fatalf("the stream ended: %v", p.events.Err())
		return nil
	}
	// asked waits for the sampling request on a party's stream and checks
	// that it carries the party's own prompt.
	asked := func(p party, name string) any {
		m := next(p)
		if m["method"] != "sampling/createMessage" || !strings.Contains(fmt.Sprint(m["params"]), name) {
			t.Fatalf("%s's stream carried %v", name, m)
		}
		return m["id"]
	}
	answer := func(p party, id any, text string) {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "result": map[string]any{
			"role": "assistant", "model": "m", "content": map[string]any{"type": "text", "text": text}}})
		if resp := post(t, url, p.sess, string(b)); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("answer: status %d", resp.StatusCode)
		}
	}
	a := start("alice")
	idA := asked(a, "alice")
	b := start("bob")
	idB := asked(b, "bob")
	answer(b, idB, "for bob")
	answer(a, idA, "for alice")
	if got := text(next(b)); got != "bob sampled: for bob" {
		t.Errorf("bob got %q", got)
	}
	if got := text(next(a)); got != "alice sampled: for alice" {
		t.Errorf("alice got %q", got)
	}
	// An answer to a request no longer pending is refused.
	b2, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": idA, "result": map[string]any{}})
	if resp := post(t, url, a.sess, string(b2)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a second answer: status %d", resp.StatusCode)
	}
}

// TestUnansweredPingReplaces stops a worker (SIGSTOP), so that it neither
// answers nor exits: the next ping fails it, its call gets an error naming
// the cause, and a new worker takes its place.
func TestUnansweredPingReplaces(t *testing.T) {
	p, url := startPool(t, Config{MinWorkers: 1, MaxWorkers: 1, HealthInterval: 200 * time.Millisecond,
		HealthTimeout: 300 * time.Millisecond, KillGrace: 200 * time.Millisecond}, 1)
	sess, _ := initialize(t, url, "2025-06-18", `{}`)
	done := make(chan []map[string]any, 1)
	go func() {
		done <- messages(t, post(t, url, sess, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":30000}}}`))
	}()
	waitFor(t, 10*time.Second, "the call running", func() bool { return p.Health().Workers[0].Inflight == 1 })
	pid := p.Health().Workers[0].PID
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	select {
	case msgs := <-done:
		want := fmt.Sprintf("worker pid %d did not answer a ping within 300ms", pid)
		if len(msgs) != 1 || !strings.Contains(fmt.Sprint(msgs[0]["error"]), want) {
			t.Fatalf("the call got %v, want an error with %q", msgs, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call on the frozen worker did not end")
	}
	waitFor(t, 30*time.Second, "a new worker", func() bool {
		h := p.Health()
		return len(h.Workers) == 1 && h.Workers[0].PID != pid && h.Workers[0].State == stateIdle && h.Restarts == 1
	})
}
