package legacy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"go.uber.org/zap"
)

// TestStreamNotLegacyPassesThrough checks that streams that are not a legacy
// session's reach the client exactly as the upstream wrote them, and open no
// session.
func TestStreamNotLegacyPassesThrough(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
		chunks []string
	}{
		{"streamable get stream", map[string]string{"Content-Type": "text/event-stream"}, 200,
			[]string{": hello\n\n", "id: 1\nda", "ta: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n", "\nevent: endpoint\ndata: /m?sessionId=a\n\n"}},
		{"priming event", map[string]string{"Content-Type": "text/event-stream"}, 200,
			[]string{"id: p\ndata: \n\n", "event: endpoint\ndata: /m?sessionId=a\n\n"}},
		{"endpoint without session", map[string]string{"Content-Type": "text/event-stream"}, 200,
			[]string{"event: endpoint\ndata: /messages\n\n", "data: x\n\n"}},
		{"json", map[string]string{"Content-Type": "application/json"}, 200,
			[]string{`{"status":`, `"ok"}`}},
		{"not found", map[string]string{"Content-Type": "text/plain"}, 404,
			[]string{"event: endpoint\ndata: /m?sessionId=a\n\n"}},
		{"encoded", map[string]string{"Content-Type": "text/event-stream", "Content-Encoding": "gzip"}, 200,
			[]string{"event: endpoint\ndata: /m?sessionId=a\n\n"}},
		{"first event over the limit", map[string]string{"Content-Type": "text/event-stream"}, 200,
			[]string{"data: " + strings.Repeat("x", maxDetect), strings.Repeat("y", 100) + "\n\n", "event: endpoint\ndata: /m?sessionId=a\n\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := func(w http.ResponseWriter, r *http.Request) error {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				for _, c := range tc.chunks {
					_, _ = io.WriteString(w, c)
					_ = http.NewResponseController(w).Flush()
				}
				return nil
			}
			f := newFixture(t, testConfig(), next)
			cs := f.open("/sse", nil)
			<-cs.done
			if cs.resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", cs.resp.StatusCode, tc.status)
			}
			for k, v := range tc.header {
				if got := cs.resp.Header.Get(k); got != v {
					t.Fatalf("%s: %q, want %q", k, got, v)
				}
			}
			if got, want := string(cs.bytes()), strings.Join(tc.chunks, ""); got != want {
				t.Fatalf("body changed:\n got %.200q\nwant %.200q", got, want)
			}
			if n := f.reg.Len(); n != 0 {
				t.Fatalf("%d sessions opened", n)
			}
		})
	}
}

// TestStreamPassesBeforeFirstEvent checks that what comes before the first
// event (a comment, say) reaches the client at once, not with the event.
func TestStreamPassesBeforeFirstEvent(t *testing.T) {
	release := make(chan struct{})
	next := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, ": waiting\n\nevent: endp")
		_ = http.NewResponseController(w).Flush()
		<-release
		_, _ = io.WriteString(w, "oint\ndata: /m?sessionId=a\n\n")
		return nil
	}
	f := newFixture(t, testConfig(), next)
	cs := f.open("/sse", nil)
	waitFor(t, "the comment", func() bool { return string(cs.bytes()) == ": waiting\n\n" })
	close(release)
	<-cs.done
	if got := string(cs.bytes()); got != ": waiting\n\nevent: endpoint\ndata: /m?sessionId=a\n\n" {
		t.Fatalf("got %q", got)
	}
}

// TestLegacyRelayUnchanged checks that a legacy session's stream with no
// pending call reaches the client byte for byte, however the upstream cuts
// its writes, that an event left incomplete at the end still arrives, and
// that the session is open exactly while its stream is.
func TestLegacyRelayUnchanged(t *testing.T) {
	u := newUpstream(t)
	f := newFixture(t, testConfig(), u.serve)
	cs := f.open("/sse", nil)
	if ev := cs.next(); ev.Name != "endpoint" || ev.Data != "/messages?sessionId=session-1" {
		t.Fatalf("first event %+v", ev)
	}
	id := <-u.opened
	if f.reg.lookup(id) == nil {
		t.Fatal("the session is not registered")
	}
	chunks := []string{
		"event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"a\"}\r", "\n\r\n",
		": comment\n\n", "data: one\rdata: two\r\r", "\n",
		"event: message\ndata: {\"jsonrpc\":\"2.0\",", "\"id\":1,\"result\":{}}\n\n",
		"id: 9\nretry: 100\n\n", "data: incomplete",
	}
	for _, c := range chunks {
		u.push(id, c)
	}
	u.end(id)
	<-cs.done
	want := "event: endpoint\ndata: /messages?sessionId=session-1\n\n" + strings.Join(chunks, "")
	if got := string(cs.bytes()); got != want {
		t.Fatalf("stream changed:\n got %q\nwant %q", got, want)
	}
	<-f.served
	if f.reg.Len() != 0 {
		t.Fatal("the session outlived its stream")
	}
}

// TestLegacyEndpointRewritten checks that an absolute endpoint URL for
// another host becomes a relative one with the same query, and that POSTs
// to it are tracked.
func TestLegacyEndpointRewritten(t *testing.T) {
	u := newUpstream(t)
	u.endpoint = func(id string) string { return "http://10.1.2.3:8000/mcp/messages/?session_id=" + id + "&x=%2F" }
	f := newFixture(t, testConfig(), u.serve)
	cs := f.open("/sse", nil)
	ev := cs.next()
	if ev.Name != "endpoint" || ev.Data != "/mcp/messages/?session_id=session-1&x=%2F" {
		t.Fatalf("endpoint %+v", ev)
	}
	id := <-u.opened
	f.post(ev.Data, toolCall(`1`, "sleep", `"t"`))
	<-u.posts
	if n := f.reg.lookup(id).pending(); n != 1 {
		t.Fatalf("%d pending calls", n)
	}
}

// TestLegacyEndpointForThisHostKept checks that an absolute endpoint URL for
// the host the client asked for is left as it is.
func TestLegacyEndpointForThisHostKept(t *testing.T) {
	u := newUpstream(t)
	var base string
	u.endpoint = func(id string) string { return base + "/messages?sessionId=" + id }
	f := newFixture(t, testConfig(), u.serve)
	base = f.srv.URL
	cs := f.open("/sse", nil)
	want := "event: endpoint\ndata: " + base + "/messages?sessionId=session-1\n\n"
	if ev := cs.next(); ev.Data != base+"/messages?sessionId=session-1" {
		t.Fatalf("endpoint %+v", ev)
	}
	if got := string(cs.bytes()); got != want {
		t.Fatalf("endpoint event changed: %q", got)
	}
}

// TestLegacyClientGone checks that a client that drops its stream ends the
// handler, the session and the pump (goleak checks the rest).
func TestLegacyClientGone(t *testing.T) {
	u := newUpstream(t)
	f := newFixture(t, testConfig(), u.serve)
	cs := f.open("/sse", nil)
	id := <-u.opened
	cs.next()
	f.post("/messages?sessionId="+id, toolCall(`1`, "sleep", `"t"`))
	<-u.posts
	cs.until(isProgress)
	cs.close()
	waitFor(t, "the session to close", func() bool { return f.reg.Len() == 0 })
	if n := f.logs.FilterMessage("held call finished").FilterField(zap.String("outcome", keepalive.OutcomeClientGone)).Len(); n != 1 {
		t.Fatalf("%d client_gone log lines", n)
	}
}
