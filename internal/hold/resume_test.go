package hold

import (
	"github.com/caddy-stata/caddy-stata/internal/keepalive"

	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// postRev sends a JSON-RPC body as a client at protocol rev (none when
// empty) with the given session and credentials (none when empty).
func (f *fixture) postRev(ctx context.Context, body, rev, session, auth string) *http.Response {
	f.t.Helper()
	return f.send(ctx, http.MethodPost, body, header(
		"Content-Type", "application/json",
		"Accept", "application/json, text/event-stream",
		"MCP-Protocol-Version", rev, "Mcp-Session-Id", session, "Authorization", auth))
}

// resumeGET asks for the stream after lastID.
func (f *fixture) resumeGET(lastID, session, auth string) *http.Response {
	f.t.Helper()
	return f.send(context.Background(), http.MethodGet, "", header(
		"Accept", "text/event-stream", "Last-Event-ID", lastID,
		"MCP-Protocol-Version", "2025-11-25", "Mcp-Session-Id", session, "Authorization", auth))
}

// TestPrimeDropResume checks the whole resumption path: a priming event for a
// 2025-11-25 client, a dropped connection, and a GET that gets the response;
// and that nobody but the owner, nor an unknown stream, gets anything.
func TestPrimeDropResume(t *testing.T) {
	release := make(chan struct{})
	const result = `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`
	f := newFixture(t, testConfig(), func(w http.ResponseWriter, r *http.Request) error {
		<-release
		writeJSON(w, result)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	ch := readStream(f.postRev(ctx, toolCall("1", ""), "2025-11-25", "sess-a", "Bearer a").Body)
	first := <-ch
	if first.comment || first.ev.Data != "" || !strings.HasSuffix(first.ev.ID, "-0") {
		t.Fatalf("first item is not a priming event: %+v", first)
	}
	requestDone := f.lastRequestDone()
	cancel()
	<-requestDone // the server saw the client go

	for _, tc := range []struct{ name, id, session, auth string }{
		{"another session", first.ev.ID, "sess-b", "Bearer a"},
		{"other credentials", first.ev.ID, "sess-a", "Bearer b"},
		{"no credentials", first.ev.ID, "sess-a", ""},
		{"unknown stream", "mka-00000000000000000000000000000000-0", "sess-a", "Bearer a"},
	} {
		resp := f.resumeGET(tc.id, tc.session, tc.auth)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "jsonrpc") {
			t.Fatalf("%s: %d %q", tc.name, resp.StatusCode, body)
		}
		f.waitServed()
	}

	close(release)
	f.h.Wait() // the call ended with no client: its result is kept
	resp := f.resumeGET(first.ev.ID, "sess-a", "Bearer a")
	evs := collect(t, readStream(resp.Body))
	last := evs[len(evs)-1]
	if last.ev.Data != result || !strings.HasPrefix(last.ev.ID, "mka-") {
		t.Fatalf("resumed stream ended with %+v", last)
	}
	// Resuming after the response's own id gives nothing more.
	resp = f.resumeGET(last.ev.ID, "sess-a", "Bearer a")
	if evs := events(collect(t, readStream(resp.Body))); len(evs) != 0 {
		t.Fatalf("after the response: %q", evs)
	}
	if n := f.logs.FilterMessage("held call resumed").Len(); n != 2 {
		t.Fatalf("%d replay log lines, want 2", n)
	}
}

// TestPollAfter checks that a 2025-11-25 client's connection is closed after
// poll_after with a retry field, and that resuming continues the stream,
// progress still increasing, to the response.
func TestPollAfter(t *testing.T) {
	release := make(chan struct{})
	cfg := testConfig()
	cfg.PollAfter = 100 * time.Millisecond
	cfg.Retry = 250 * time.Millisecond
	f := newFixture(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
		<-release
		writeJSON(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		return nil
	})
	resp := f.postRev(context.Background(), toolCall("1", `"p"`), "2025-11-25", "s", "")
	raw, _ := io.ReadAll(resp.Body) // the server ends it
	if !strings.HasSuffix(string(raw), "retry: 250\n\n") {
		t.Fatalf("the polled stream does not end with retry: %q", raw)
	}
	items := collect(t, readStream(strings.NewReader(string(raw))))
	lastID, last := "", 0.0
	for _, it := range items {
		if !it.comment && it.ev.Data != "" {
			last = decode(t, it.ev.Data).Params.Progress
		}
		lastID = it.ev.ID
	}
	// Resume twice: once while running, once to the end.
	for round := 0; round < 2; round++ {
		if round == 1 {
			close(release)
		}
		items = collect(t, readStream(f.resumeGET(lastID, "s", "").Body))
		for _, it := range items {
			if it.comment {
				continue
			}
			m := decode(t, it.ev.Data)
			if m.Method != "" {
				if m.Params.Progress <= last {
					t.Fatalf("progress went from %v to %v across a resumption", last, m.Params.Progress)
				}
				last = m.Params.Progress
			}
			lastID = it.ev.ID
		}
	}
	if final := decode(t, items[len(items)-1].ev.Data); final.Result == nil {
		t.Fatalf("did not end with the response: %+v", items)
	}
}

// TestCancelledNotification checks that notifications/cancelled naming a held
// call reaches the upstream, cancels the upstream request, and ends the
// stream without a response; and that one from another session cancels
// nothing.
func TestCancelledNotification(t *testing.T) {
	cancelled := make(chan struct{})
	notified := make(chan string, 4)
	f := newFixture(t, testConfig(), func(w http.ResponseWriter, r *http.Request) error {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "notifications/cancelled") {
			notified <- r.Header.Get("Mcp-Session-Id")
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
		<-r.Context().Done()
		close(cancelled)
		return r.Context().Err()
	})
	ch := readStream(f.postRev(context.Background(), toolCall(`"c-1"`, ""), "2025-06-18", "s1", "").Body)
	<-ch // committed
	send := func(session string) {
		resp := f.postRev(context.Background(),
			`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c-1","reason":"user"}}`,
			"2025-06-18", session, "")
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("cancel answered %d", resp.StatusCode)
		}
		if got := <-notified; got != session {
			t.Fatalf("the upstream got the cancel of session %q", got)
		}
		f.waitServed()
	}
	send("s2")
	select {
	case <-cancelled:
		t.Fatal("a cancel from another session cancelled the call")
	default:
	}
	send("s1")
	<-cancelled
	for _, it := range collect(t, ch) {
		if !it.comment && strings.Contains(it.ev.Data, `"id"`) {
			t.Fatalf("a response after the cancel: %s", it.ev.Data)
		}
	}
	f.waitServed()
	f.h.Wait()
	if n := f.logs.FilterMessage("held call finished").FilterField(zapString("outcome", keepalive.OutcomeCancelled)).Len(); n != 1 {
		t.Fatalf("%d cancelled outcomes logged", n)
	}
}

// TestStatelessRevision checks a 2026-07-28 client: no event ids, and
// dropping the stream cancels the upstream call.
func TestStatelessRevision(t *testing.T) {
	cancelled := make(chan struct{})
	f := newFixture(t, testConfig(), func(w http.ResponseWriter, r *http.Request) error {
		<-r.Context().Done()
		close(cancelled)
		return r.Context().Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	ch := readStream(f.postRev(ctx, toolCall("1", "1"), "2026-07-28", "", "").Body)
	for i := 0; i < 3; i++ {
		if it := <-ch; it.ev.ID != "" {
			t.Fatalf("a 2026-07-28 client got an event id: %+v", it)
		}
	}
	cancel()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("dropping the stream did not cancel the upstream call")
	}
	f.waitServed()
}

// TestResumeOff checks that with resume off no event carries an id and a
// GET with a Last-Event-ID in the handler's format goes upstream.
func TestResumeOff(t *testing.T) {
	cfg := testConfig()
	cfg.Resume = 0
	var upstreamGET bool
	f := newFixture(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
		if r.Method == http.MethodGet {
			upstreamGET = true
			w.WriteHeader(http.StatusMethodNotAllowed)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
		writeJSON(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		return nil
	})
	for _, it := range collect(t, readStream(f.postRev(context.Background(), toolCall("1", "1"), "2025-11-25", "", "").Body)) {
		if it.ev.ID != "" {
			t.Fatalf("an id with resume off: %+v", it)
		}
	}
	f.waitServed()
	resp := f.resumeGET("mka-00000000000000000000000000000000-1", "", "")
	if resp.StatusCode != http.StatusMethodNotAllowed || !upstreamGET {
		t.Fatalf("GET answered %d, upstream saw it: %v", resp.StatusCode, upstreamGET)
	}
	f.waitServed()
}
