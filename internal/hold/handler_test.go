package hold

import (
	"github.com/caddy-stata/caddy-stata/internal/keepalive"

	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPassThroughUntouched checks that what is not a held tools/call reaches
// next byte for byte, and its answer reaches the client unchanged.
func TestPassThroughUntouched(t *testing.T) {
	cases := []struct {
		name, method, contentType, accept, body string
	}{
		{"initialize", "POST", "application/json", "application/json, text/event-stream", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`},
		{"tools/list", "POST", "application/json", "application/json, text/event-stream", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`},
		{"notification", "POST", "application/json", "application/json, text/event-stream", `{"jsonrpc":"2.0","method":"notifications/initialized"}`},
		{"no event stream in Accept", "POST", "application/json", "application/json", toolCall("3", "")},
		{"not JSON", "POST", "text/plain", "text/event-stream", toolCall("4", "")},
		{"tools/call notification", "POST", "application/json", "text/event-stream", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"slow"}}`},
		{"case-folded method", "POST", "application/json", "text/event-stream", `{"jsonrpc":"2.0","id":5,"Method":"tools/call","params":{"name":"slow"}}`},
		{"malformed", "POST", "application/json", "text/event-stream", `{"jsonrpc":"2.0","id":6,"method":"tools/call"`},
		{"GET stream", "GET", "", "text/event-stream", ""},
		{"DELETE", "DELETE", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gotBody []byte
			var gotHeader http.Header
			next := func(w http.ResponseWriter, r *http.Request) error {
				gotBody, _ = io.ReadAll(r.Body)
				gotHeader = r.Header.Clone()
				// Slower than grace: were it held, the answer would change.
				time.Sleep(100 * time.Millisecond)
				w.Header().Set("Mcp-Session-Id", "sess-1")
				w.Header().Set("Content-Type", "application/x-upstream")
				w.WriteHeader(http.StatusTeapot)
				io.WriteString(w, "upstream body")
				return nil
			}
			f := newFixture(t, testConfig(), next)
			req, _ := http.NewRequest(tc.method, f.srv.URL+"/mcp", strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			req.Header.Set("Accept", tc.accept)
			req.Header.Set("Mcp-Session-Id", "sess-1")
			req.Header.Set("MCP-Protocol-Version", "2025-06-18")
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusTeapot || string(body) != "upstream body" ||
				resp.Header.Get("Content-Type") != "application/x-upstream" || resp.Header.Get("Mcp-Session-Id") != "sess-1" {
				t.Fatalf("answer changed: %d %q %v", resp.StatusCode, body, resp.Header)
			}
			if string(gotBody) != tc.body {
				t.Fatalf("next got body %q, want %q", gotBody, tc.body)
			}
			if gotHeader.Get("Mcp-Session-Id") != "sess-1" || gotHeader.Get("MCP-Protocol-Version") != "2025-06-18" {
				t.Fatalf("next got headers %v", gotHeader)
			}
			f.waitServed()
		})
	}
}

// TestUnheldTool checks that a tool not matched by Tools passes through.
func TestUnheldTool(t *testing.T) {
	cfg := testConfig()
	cfg.Tools = []string{"stata_*"}
	next := func(w http.ResponseWriter, r *http.Request) error {
		time.Sleep(100 * time.Millisecond)
		writeJSON(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		return nil
	}
	f := newFixture(t, cfg, next)
	resp := f.post(context.Background(), toolCall("1", ""))
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("tool 'slow' is not in stata_* but was held: %s", ct)
	}
	f.waitServed()
}

// TestGracePassThrough checks that an answer within grace is written exactly
// as the upstream sent it.
func TestGracePassThrough(t *testing.T) {
	for _, ct := range []string{"application/json", "text/event-stream"} {
		t.Run(ct, func(t *testing.T) {
			const body = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[]}}\n"
			next := func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Content-Type", ct)
				w.Header().Set("X-Upstream", "yes")
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, body)
				return nil
			}
			cfg := testConfig()
			cfg.Grace = 5 * time.Second
			f := newFixture(t, cfg, next)
			resp := f.post(context.Background(), toolCall("7", "1"))
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != ct ||
				resp.Header.Get("X-Upstream") != "yes" || string(got) != body {
				t.Fatalf("got %d %v %q", resp.StatusCode, resp.Header, got)
			}
			f.waitServed()
		})
	}
}

// TestGraceErrorIsNexts checks that an upstream failure within grace is
// returned as next returned it, as if the handler were not there.
func TestGraceErrorIsNexts(t *testing.T) {
	refused := errors.New("dial: connection refused")
	f := newFixture(t, testConfig(), func(w http.ResponseWriter, r *http.Request) error { return refused })
	resp := f.post(context.Background(), toolCall("1", ""))
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(got), "connection refused") {
		t.Fatalf("got %d %q", resp.StatusCode, got)
	}
	f.waitServed()
}

// TestHeldJSONResponse checks the whole held path with a buffering upstream:
// headers at commit, progress that strictly increases and names the tool, and
// the response as one message event with the id unchanged.
func TestHeldJSONResponse(t *testing.T) {
	release := make(chan struct{})
	const result = `{"jsonrpc":"2.0","id":"req-1","result":{"content":[{"type":"text","text":"done"}]}}`
	next := func(w http.ResponseWriter, r *http.Request) error {
		if r.Header.Get("Accept-Encoding") != "" {
			t.Errorf("Accept-Encoding reached the upstream: %q", r.Header.Get("Accept-Encoding"))
		}
		<-release
		writeJSON(w, result+"\n")
		return nil
	}
	f := newFixture(t, testConfig(), next)
	resp := f.post(context.Background(), toolCall(`"req-1"`, `"tok"`))
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache, no-transform",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	ch := readStream(resp.Body)
	var last float64
	for n := 0; n < 3; {
		it := <-ch
		if it.comment {
			t.Fatal("a comment where progress was due")
		}
		m := decode(t, it.ev.Data)
		if m.Method != "notifications/progress" || string(m.Params.ProgressToken) != `"tok"` {
			t.Fatalf("not progress for the token: %s", it.ev.Data)
		}
		if m.Params.Progress <= last || !strings.Contains(m.Params.Message, "slow") {
			t.Fatalf("progress %v after %v, message %q", m.Params.Progress, last, m.Params.Message)
		}
		if !strings.HasPrefix(it.ev.ID, "mka-") || it.ev.Name != "" {
			t.Fatalf("event has id %q (not the handler's own) or name %q", it.ev.ID, it.ev.Name)
		}
		last = m.Params.Progress
		n++
	}
	close(release)
	rest := events(collect(t, ch))
	final := rest[len(rest)-1]
	if final != result {
		t.Fatalf("final event %q, want %q", final, result)
	}
	for _, d := range rest[:len(rest)-1] {
		if m := decode(t, d); m.Params.Progress <= last {
			t.Fatalf("progress went from %v to %v", last, m.Params.Progress)
		} else {
			last = m.Params.Progress
		}
	}
	f.waitServed()
	f.h.Wait()
	if n := f.logs.FilterMessage("held call finished").FilterField(zapString("outcome", keepalive.OutcomeResponse)).Len(); n != 1 {
		t.Fatalf("%d log lines for the finished call", n)
	}
}

// TestCommentsWithoutToken checks that keep-alives are comments when there is
// no token, or when progress is off.
func TestCommentsWithoutToken(t *testing.T) {
	for _, tc := range []struct {
		name     string
		token    string
		progress bool
	}{{"no token", "", true}, {"progress off", "5", false}} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			next := func(w http.ResponseWriter, r *http.Request) error {
				<-release
				writeJSON(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
				return nil
			}
			cfg := testConfig()
			cfg.Progress = tc.progress
			f := newFixture(t, cfg, next)
			ch := readStream(f.post(context.Background(), toolCall("1", tc.token)).Body)
			for i := 0; i < 3; i++ {
				if it := <-ch; !it.comment {
					t.Fatalf("event %q where a comment was due", it.ev.Data)
				}
			}
			close(release)
			if evs := events(collect(t, ch)); len(evs) != 1 {
				t.Fatalf("events %q, want only the response", evs)
			}
			f.waitServed()
		})
	}
}

// TestGraceZeroCommitsAtOnce checks grace 0.
func TestGraceZeroCommitsAtOnce(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = 0
	next := func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		return nil
	}
	f := newFixture(t, cfg, next)
	resp := f.post(context.Background(), toolCall("1", ""))
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	if evs := events(collect(t, readStream(resp.Body))); len(evs) != 1 || evs[0] != `{"jsonrpc":"2.0","id":1,"result":{}}` {
		t.Fatalf("events %q", evs)
	}
	f.waitServed()
}

// TestRelaySSE checks that an upstream event stream is relayed event by event,
// its own notifications included, its ids dropped, and its own progress kept
// increasing after invented progress.
func TestRelaySSE(t *testing.T) {
	step, answer := make(chan struct{}), make(chan struct{})
	next := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		io.WriteString(w, "id: up-1\ndata: \n\n") // a priming event
		rc.Flush()
		<-step // progress was invented meanwhile
		io.WriteString(w, "id: up-2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"hello\"}}\n\n")
		// An unrelated token passes unchanged.
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":8,\"progress\":0.1}}\n\n")
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":9,\"progress\":0.5,\"total\":1,\"message\":\"half\"}}\r\n\r\n")
		rc.Flush()
		<-answer // the client saw the upstream's progress
		// Split across writes, with CRLF split between them.
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":9,")
		rc.Flush()
		io.WriteString(w, "\"result\":{}}\r")
		rc.Flush()
		io.WriteString(w, "\n\r\n")
		return nil
	}
	f := newFixture(t, testConfig(), next)
	ch := readStream(f.post(context.Background(), toolCall("9", "9")).Body)
	var items []item
	for len(items) < 2 {
		if it := <-ch; !it.comment {
			items = append(items, it)
		}
	}
	close(step)
	for {
		it := <-ch
		items = append(items, it)
		if !it.comment && strings.Contains(it.ev.Data, `"half"`) {
			break
		}
	}
	close(answer)
	items = append(items, collect(t, ch)...)
	var last float64
	var sawLog, sawOther, sawOwn bool
	for _, it := range items {
		if it.comment {
			continue
		}
		if !strings.HasPrefix(it.ev.ID, "mka-") || it.ev.Name != "" {
			t.Fatalf("relayed event kept id %q or name %q", it.ev.ID, it.ev.Name)
		}
		m := decode(t, it.ev.Data)
		switch {
		case m.Method == "notifications/message":
			sawLog = true
		case m.Method == "notifications/progress" && string(m.Params.ProgressToken) == "8":
			sawOther = m.Params.Progress == 0.1
		case m.Method == "notifications/progress":
			if m.Params.Progress <= last {
				t.Fatalf("progress went from %v to %v", last, m.Params.Progress)
			}
			if m.Params.Message == "half" {
				sawOwn = true
				if m.Params.Total == nil || *m.Params.Total-m.Params.Progress != 0.5 {
					t.Fatalf("shifted total does not keep what remains: %+v", m.Params)
				}
			}
			last = m.Params.Progress
		}
	}
	final := decode(t, items[len(items)-1].ev.Data)
	if !sawLog || !sawOther || !sawOwn || string(final.ID) != "9" || final.Result == nil {
		t.Fatalf("log %v, other token %v, own progress %v, final %+v", sawLog, sawOther, sawOwn, final)
	}
	f.waitServed()
}

// TestUpstreamFailures checks that every way an upstream fails after the
// commit ends the stream with one JSON-RPC error for the request's id.
func TestUpstreamFailures(t *testing.T) {
	cases := []struct {
		name  string
		next  func(w http.ResponseWriter, r *http.Request) error
		cause string
	}{
		{"refused", func(w http.ResponseWriter, r *http.Request) error {
			return &wrapped{syscall.ECONNREFUSED}
		}, "connection refused"},
		{"500", func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "<h1>oops</h1>")
			return nil
		}, "500 Internal Server Error"},
		{"html 200", func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<h1>hi</h1>")
			return nil
		}, `content type "text/html"`},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) error {
			writeJSON(w, "not json")
			return nil
		}, "not the response"},
		{"another id", func(w http.ResponseWriter, r *http.Request) error {
			writeJSON(w, `{"jsonrpc":"2.0","id":2,"result":{}}`)
			return nil
		}, "not the response"},
		{"202", func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusAccepted)
			return nil
		}, "202 Accepted, with no response"},
		{"stream without response", func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n")
			return nil
		}, "ended without the response"},
		{"broken mid-body", func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"res`)
			panic(http.ErrAbortHandler)
		}, "connection broke"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := func(w http.ResponseWriter, r *http.Request) error {
				time.Sleep(100 * time.Millisecond) // past grace
				return tc.next(w, r)
			}
			f := newFixture(t, testConfig(), next)
			evs := events(collect(t, readStream(f.post(context.Background(), toolCall("1", "")).Body)))
			var outcomes []string
			for _, d := range evs {
				if m := decode(t, d); string(m.ID) == "1" {
					outcomes = append(outcomes, d)
				}
			}
			if len(outcomes) != 1 || outcomes[0] != evs[len(evs)-1] {
				t.Fatalf("events %q, want exactly one outcome for id 1, last", evs)
			}
			m := decode(t, outcomes[0])
			if m.Error == nil || !strings.Contains(m.Error.Message, tc.cause) {
				t.Fatalf("got %s, want an error naming %q", outcomes[0], tc.cause)
			}
			f.waitServed()
		})
	}
}

// wrapped is an error that wraps another, as reverse_proxy's errors do.
type wrapped struct{ err error }

func (w *wrapped) Error() string { return "HTTP 502: dial tcp 10.0.0.1:4000: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

// TestMaxDuration checks that a call past max_duration is cancelled upstream
// and ends with a timeout error.
func TestMaxDuration(t *testing.T) {
	cancelled := make(chan struct{})
	next := func(w http.ResponseWriter, r *http.Request) error {
		<-r.Context().Done()
		close(cancelled)
		return r.Context().Err()
	}
	cfg := testConfig()
	cfg.MaxDuration = 200 * time.Millisecond
	f := newFixture(t, cfg, next)
	evs := events(collect(t, readStream(f.post(context.Background(), toolCall("1", "")).Body)))
	m := decode(t, evs[len(evs)-1])
	if m.Error == nil || m.Error.Code != -32001 || !strings.Contains(m.Error.Message, "max_duration") {
		t.Fatalf("final event %s", evs[len(evs)-1])
	}
	<-cancelled
	f.waitServed()
}

// TestClientGoneUpstreamRuns checks that a client leaving, before or after the
// commit, does not cancel the upstream call, which runs to its end and is
// logged.
func TestClientGoneUpstreamRuns(t *testing.T) {
	for _, phase := range []string{"before commit", "after commit"} {
		t.Run(phase, func(t *testing.T) {
			started, release, finished := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			next := func(w http.ResponseWriter, r *http.Request) error {
				close(started)
				select {
				case <-release:
					finished <- nil
				case <-r.Context().Done():
					finished <- r.Context().Err()
				}
				writeJSON(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
				return nil
			}
			cfg := testConfig()
			if phase == "before commit" {
				cfg.Grace = time.Hour
			}
			f := newFixture(t, cfg, next)
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL, strings.NewReader(toolCall("1", "")))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "text/event-stream")
			committed := make(chan struct{})
			go func() {
				resp, err := f.client.Do(req)
				if err == nil {
					resp.Body.Read(make([]byte, 1)) // the first keep-alive
					close(committed)
					resp.Body.Close()
				}
			}()
			if phase == "before commit" {
				<-started
			} else {
				<-committed
			}
			cancel()
			// The upstream is still blocked, so the request's context ends
			// only because the client left.
			<-f.lastRequestDone()
			close(release)
			if err := <-finished; err != nil {
				t.Fatalf("upstream call was cancelled: %v", err)
			}
			f.waitServed()
			f.h.Wait()
			logs := f.logs.FilterMessage("held call finished").All()
			if len(logs) != 1 || logs[0].ContextMap()["outcome"] != keepalive.OutcomeResponse || logs[0].ContextMap()["client_gone"] != true {
				t.Fatalf("log lines: %+v", logs)
			}
		})
	}
}

// TestLimits checks max_request_body and max_held.
func TestLimits(t *testing.T) {
	release := make(chan struct{})
	cfg := testConfig()
	cfg.MaxHeld = 1
	cfg.MaxRequestBody = 1024
	f := newFixture(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
		<-release
		writeJSON(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		return nil
	})
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"x":"` + strings.Repeat("a", 2000) + `"}}}`
	resp := f.post(context.Background(), big)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte(`"code":-32600`)) {
		t.Fatalf("oversized body: %d %s", resp.StatusCode, body)
	}
	f.waitServed()

	held := f.post(context.Background(), toolCall("1", ""))
	ch := readStream(held.Body)
	<-ch // committed
	resp = f.post(context.Background(), toolCall(`"second"`, ""))
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(body, []byte(`"id":"second"`)) {
		t.Fatalf("over max_held: %d %s", resp.StatusCode, body)
	}
	f.waitServed()
	close(release)
	collect(t, ch)
	f.waitServed()
}

// TestIDsUnchanged checks that ids of every legal form come back as the very
// bytes the client sent, in errors the handler makes itself.
func TestIDsUnchanged(t *testing.T) {
	ids := []string{`12345678901234567890123`, `-0`, `1.5e3`, `"123"`, `"a\"b\u00e9\\"`, `""`, `"𝄞"`}
	f := newFixture(t, testConfig(), func(w http.ResponseWriter, r *http.Request) error {
		time.Sleep(80 * time.Millisecond)
		w.WriteHeader(http.StatusBadGateway)
		return nil
	})
	for _, id := range ids {
		evs := events(collect(t, readStream(f.post(context.Background(), toolCall(id, id)).Body)))
		want := `{"jsonrpc":"2.0","id":` + id + `,"error":`
		if !strings.HasPrefix(evs[len(evs)-1], want) {
			t.Fatalf("id %s came back as %s", id, evs[len(evs)-1])
		}
		for _, d := range evs[:len(evs)-1] {
			if !strings.Contains(d, `"progressToken":`+id+`,`) {
				t.Fatalf("token %s came back as %s", id, d)
			}
		}
		f.waitServed()
	}
}

// TestLargeAnswerStreamsThrough checks that an answer that is not an event
// stream, and is larger than passLimit within the grace period, reaches the
// client as it comes, unchanged, before the upstream is done.
func TestLargeAnswerStreamsThrough(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = time.Hour
	rest := make(chan struct{})
	chunk := strings.Repeat("x", 64<<10)
	next := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "big")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"text":"`)
		for i := 0; i < 8; i++ {
			io.WriteString(w, chunk)
		}
		<-rest // the client must already have the first part
		for i := 0; i < 8; i++ {
			io.WriteString(w, chunk)
		}
		io.WriteString(w, `"}}`)
		return nil
	}
	f := newFixture(t, cfg, next)
	resp := f.post(context.Background(), toolCall("1", ""))
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Upstream") != "big" {
		t.Fatalf("headers %v", resp.Header)
	}
	first := make([]byte, 8*len(chunk))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("the first part did not come before the upstream was done: %v", err)
	}
	close(rest)
	tail, _ := io.ReadAll(resp.Body)
	body := string(first) + string(tail)
	want := `{"jsonrpc":"2.0","id":1,"result":{"text":"` + strings.Repeat(chunk, 16) + `"}}`
	if body != want {
		t.Fatalf("body of %d bytes, want %d", len(body), len(want))
	}
	f.waitServed()
}
