package hold

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/redisstore"
	"github.com/caddy-stata/caddy-stata/internal/redistest"
)

// shareThrough makes f's handler share its streams through a Store of its
// own on the Redis at addr, as a separate process would.
func (f *fixture) shareThrough(addr string) {
	f.t.Helper()
	s, err := redisstore.New(redisstore.Config{Address: addr}, zap.NewNop())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = s.Close() })
	f.h.Mirror, f.h.Remote = s.Mirror(time.Hour), s
}

// TestRemoteResume drops a held call on handler A and resumes it on
// handler B, which shares A's Redis and nothing else: B refuses anyone but
// the owner, serves a polling client the events it missed and the call's
// progress (still increasing after A's), closes for polling like A, and
// ends with the response.
func TestRemoteResume(t *testing.T) {
	redis := redistest.Start(t)
	step, release := make(chan struct{}), make(chan struct{})
	a := newFixture(t, testConfig(), func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for i, wait := range []chan struct{}{step, release} {
			fmt.Fprintf(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"note %d\"}}\n\n", i+1)
			<-wait
		}
		fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n")
		return nil
	})
	a.shareThrough(redis.Addr)
	cfg := testConfig()
	cfg.PollAfter = 300 * time.Millisecond
	cfg.Retry = 250 * time.Millisecond
	b := newFixture(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
		t.Error("B called its next handler")
		return nil
	})
	b.shareThrough(redis.Addr)

	ctx, cancel := context.WithCancel(context.Background())
	ch := readStream(a.postRev(ctx, toolCall("1", `"p"`), "2025-11-25", "sess", "Bearer x").Body)
	lastID, progress := "", 0.0
	for it := range ch {
		if it.comment || it.ev.Data == "" {
			continue
		}
		lastID = it.ev.ID
		if m := decode(t, it.ev.Data); m.Method == "notifications/progress" {
			progress = m.Params.Progress
		} else if strings.Contains(it.ev.Data, "note 1") {
			break
		}
	}
	done := a.lastRequestDone()
	cancel()
	<-done
	close(step)

	for _, other := range []struct{ session, auth string }{{"other", "Bearer x"}, {"sess", "Bearer y"}} {
		resp := b.resumeGET(lastID, other.session, other.auth)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "note") {
			t.Fatalf("another owner on B: %d %q", resp.StatusCode, body)
		}
	}

	// Polling on B until the response: B closes every 300 ms.
	var got []string
	final, onB := false, 0
	for round := 0; !final; round++ {
		if round == 2 {
			close(release)
		}
		if round > 20 {
			t.Fatalf("no response after %d resumptions on B; events %q", round, got)
		}
		resp := b.resumeGET(lastID, "sess", "Bearer x")
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("resume on B: %d %q", resp.StatusCode, raw)
		}
		items := collect(t, readStream(strings.NewReader(string(raw))))
		for _, it := range items {
			if it.comment || it.ev.Data == "" {
				continue
			}
			if !strings.HasPrefix(it.ev.ID, lastID[:len(lastID)-2]) {
				t.Fatalf("event id %q is not of the stream of %q", it.ev.ID, lastID)
			}
			lastID = it.ev.ID
			m := decode(t, it.ev.Data)
			switch {
			case m.Method == "notifications/progress":
				if m.Params.Progress <= progress {
					t.Fatalf("progress went from %v to %v on B", progress, m.Params.Progress)
				}
				progress = m.Params.Progress
				onB++
			case m.Result != nil:
				final = true
			default:
				got = append(got, it.ev.Data)
			}
		}
		if !final && !strings.HasSuffix(string(raw), "retry: 250\n\n") {
			t.Fatalf("B's polled stream does not end with retry: %q", raw)
		}
	}
	if onB == 0 {
		t.Fatal("B sent none of the call's progress")
	}
	if len(got) != 1 || !strings.Contains(got[0], "note 2") {
		t.Fatalf("B served %q, want note 2 alone", got)
	}
	if n := b.logs.FilterMessage("held call resumed from the stream store").Len(); n < 3 {
		t.Fatalf("%d resumptions from Redis on B, want at least 3", n)
	}
}
