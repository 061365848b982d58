package hold

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// TestFastPathNoGoroutine checks that a call answered within the grace period
// runs the next handler on the request's own goroutine and leaves nothing
// behind: no goroutine exists while the upstream is called that did not exist
// before, and none after a burst of calls.
func TestFastPathNoGoroutine(t *testing.T) {
	h := New(testConfig(), nil, nil, nil, zap.NewNop())
	var during []int
	next := func(w http.ResponseWriter, r *http.Request) error {
		during = append(during, runtime.NumGoroutine())
		writeJSON(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		return nil
	}
	call := func() {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(toolCall("1", "1")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		rec := httptest.NewRecorder()
		if err := h.ServeHTTP(rec, req, next); err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"result"`) {
			t.Fatalf("answer %d %s", rec.Code, rec.Body)
		}
	}
	call() // warm up whatever the runtime starts once
	before := runtime.NumGoroutine()
	during = nil
	for range 1000 {
		call()
	}
	// Goroutines of earlier tests may still be ending, so the count may
	// fall; it must never rise.
	for i, n := range during {
		if n > before {
			t.Fatalf("call %d: %d goroutines while the upstream was called, %d before the burst", i, n, before)
		}
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("%d goroutines after the burst, %d before", after, before)
	}
}

// TestResumeGapRefused checks that a resumption across events that were
// dropped for space gets 409 and a JSON-RPC error, and is counted as a gap,
// rather than a stream with a hole in it.
func TestResumeGapRefused(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = 0
	cfg.StoreLimit = 16 << 10
	cfg.SpillLimit = 1 // nothing may spill: over store_limit, the store must drop events
	cfg.SpillDir = t.TempDir()
	release, wrote := make(chan struct{}), make(chan struct{})
	note := `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"` + strings.Repeat("x", 1000) + `"}}`
	f := newFixture(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for range 100 {
			fmt.Fprintf(w, "data: %s\n\n", note)
		}
		// Each write became events before it returned: the store has
		// dropped the first ones by now.
		close(wrote)
		<-release
		fmt.Fprintf(w, "data: %s\n\n", `{"jsonrpc":"2.0","id":1,"result":{}}`)
		return nil
	})
	obs := &countingObserver{}
	f.h.Observer = obs
	ctx, cancel := context.WithCancel(context.Background())
	ch := readStream(f.postRev(ctx, toolCall("1", ""), "2025-11-25", "s", "").Body)
	first := <-ch // the priming event
	cancel()
	<-f.lastRequestDone()

	<-wrote
	resp := f.resumeGET(first.ev.ID, "s", "")
	body, _ := io.ReadAll(resp.Body)
	var m rpc
	if resp.StatusCode != http.StatusConflict || json.Unmarshal(body, &m) != nil || m.Error == nil || !strings.Contains(m.Error.Message, "dropped") {
		t.Fatalf("resumption across the gap: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("409 content type %q", resp.Header.Get("Content-Type"))
	}
	if obs.replays(keepalive.ReplayGap) == 0 {
		t.Fatal("the refused resumption was not counted as a gap")
	}
	logs := f.logs.FilterMessage("resumption refused: events after the cursor were dropped for space").All()
	if len(logs) == 0 {
		t.Fatal("the refused resumption was not logged")
	}
	close(release)
	f.h.Wait()
}

// TestLargeResultResumedWhole checks that a 50 MB result of a held call,
// read by a client that drops half-way and resumes, arrives whole and
// byte-identical, while the heap stays bounded: the result goes through the
// stream's spill file, never whole into memory.
func TestLargeResultResumedWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 100 MB")
	}
	for _, mode := range []string{"json", "sse"} {
		t.Run(mode, func(t *testing.T) {
			const size = 50 << 20
			text := bytes.Repeat([]byte("0123456789abcdef"), size/16)
			head := `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"`
			tail := `"}]}}`
			want := sha256.New()
			want.Write([]byte(head))
			want.Write(text)
			want.Write([]byte(tail))

			cfg := testConfig()
			cfg.Grace = 0
			cfg.SpillDir = t.TempDir()
			release := make(chan struct{})
			f := newFixture(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
				<-release
				if mode == "sse" {
					w.Header().Set("Content-Type", "text/event-stream")
					io.WriteString(w, "data: ")
				} else {
					w.Header().Set("Content-Type", "application/json")
				}
				io.WriteString(w, head)
				for chunk := text; len(chunk) > 0; chunk = chunk[min(len(chunk), 32<<10):] {
					w.Write(chunk[:min(len(chunk), 32<<10)])
				}
				io.WriteString(w, tail)
				if mode == "sse" {
					io.WriteString(w, "\n\n")
				}
				return nil
			})
			peak, stop := heapPeak()
			defer stop()

			// The first client reads the priming event and about half of
			// the result, then drops.
			ctx, cancel := context.WithCancel(context.Background())
			resp := f.postRev(ctx, toolCall("1", ""), "2025-11-25", "s", "")
			var lastID string // of the last event dispatched
			dec := sse.NewDecoder(0)
			dec.Split(64<<10, func([]byte) {})
			close(release)
			buf := make([]byte, 32<<10)
			read := 0
			for read < size/2 {
				n, err := resp.Body.Read(buf)
				if err != nil {
					t.Fatalf("first read: %v after %d bytes", err, read)
				}
				dec.Feed(buf[:n], func(ev sse.Event) { lastID = ev.ID })
				read += n
			}
			cancel()
			if !strings.HasSuffix(lastID, "-0") {
				t.Fatalf("last event id before the drop %q, want the priming event's", lastID)
			}

			// The call ends with nobody connected; the client resumes.
			f.h.Wait()
			got := sha256.New()
			var gotSize int
			var final sse.Event
			dec = sse.NewDecoder(0)
			dec.Split(64<<10, func(p []byte) { got.Write(p); gotSize += len(p) })
			body := f.resumeGET(lastID, "s", "").Body
			for {
				n, err := body.Read(buf)
				dec.Feed(buf[:n], func(ev sse.Event) { final = ev })
				if err != nil {
					break
				}
			}
			if !final.Parted || gotSize != len(head)+size+len(tail) || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				t.Fatalf("resumed result: parted %v, %d bytes, want %d, same bytes %v",
					final.Parted, gotSize, len(head)+size+len(tail), bytes.Equal(got.Sum(nil), want.Sum(nil)))
			}
			stop()
			// The upstream's 50 MB are generated once (text above) and the
			// test's own buffers are small; the proxy must add no copy of
			// the result.
			if p := peak(); p > 32<<20 {
				t.Fatalf("heap grew by %d MiB while relaying the result", p>>20)
			}
		})
	}
}

// heapPeak samples the heap until stop is called, and returns a function
// that gives the largest rise over the heap at the start.
func heapPeak() (peak func() uint64, stop func()) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var mu sync.Mutex
	var top uint64
	done := make(chan struct{})
	var once sync.Once
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mu.Lock()
			if ms.HeapAlloc > base && ms.HeapAlloc-base > top {
				top = ms.HeapAlloc - base
			}
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	stop = func() { once.Do(func() { close(done); <-finished }) }
	peak = func() uint64 { mu.Lock(); defer mu.Unlock(); return top }
	return peak, stop
}

// countingObserver counts what it is told.
type countingObserver struct {
	mu      sync.Mutex
	results map[string]int
}

func (o *countingObserver) Finished(string, time.Duration) {}
func (o *countingObserver) KeepAlive(string)               {}
func (o *countingObserver) Replayed(result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.results == nil {
		o.results = map[string]int{}
	}
	o.results[result]++
}

func (o *countingObserver) replays(result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.results[result]
}

// TestUpstreamProgressKept checks that the upstream's own progress
// notifications are events of the stream: every one reaches the client in
// order before the response, also when they come in the same write as the
// response, and a client that resumes gets them again.
func TestUpstreamProgressKept(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = 0
	release := make(chan struct{})
	f := newFixture(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		<-release
		var b strings.Builder
		for i := 1; i <= 5; i++ {
			fmt.Fprintf(&b, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":7,\"progress\":%d,\"total\":5}}\n\n", i)
		}
		b.WriteString("data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n")
		io.WriteString(w, b.String()) // one write: progress and response together
		return nil
	})
	check := func(items []item) string {
		var seen []float64
		for _, it := range items {
			if it.comment || it.ev.Data == "" {
				continue
			}
			m := decode(t, it.ev.Data)
			if m.Method == "notifications/progress" && m.Params.Total != nil {
				seen = append(seen, m.Params.Progress)
			}
		}
		last := decode(t, items[len(items)-1].ev.Data)
		if string(last.ID) != "7" || last.Result == nil {
			t.Fatalf("last event %q is not the response", items[len(items)-1].ev.Data)
		}
		return fmt.Sprint(seen)
	}
	ch := readStream(f.postRev(context.Background(), toolCall("7", "7"), "2025-11-25", "s", "").Body)
	first := <-ch // the priming event
	close(release)
	live := collect(t, ch)
	// The invented progress came first with value 1: the server's 1..5
	// are shifted up by one, total with them, and all five arrive.
	if got := check(live); got != "[2 3 4 5 6]" {
		t.Fatalf("the client saw the server's progress %s, want all five", got)
	}
	f.h.Wait()
	replayed := collect(t, readStream(f.resumeGET(first.ev.ID, "s", "").Body))
	if got := check(replayed); got != "[2 3 4 5 6]" {
		t.Fatalf("a resumed client got the server's progress %s, want all five", got)
	}
}

// TestFollowUpstreamPolling checks that an upstream that closes its event
// stream for polling (SEP-1699: an event id, retry, then the end) is followed
// by GET with Last-Event-ID and the session's headers until its response,
// while the client's own stream goes on; and that a resumption the upstream
// refuses ends the call with an error that says so.
func TestFollowUpstreamPolling(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("refused=%v", refuse), func(t *testing.T) {
			cfg := testConfig()
			cfg.Grace = 0
			gets := make(chan http.Header, 4)
			f := newFixture(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
				if r.Method == http.MethodGet {
					gets <- r.Header.Clone()
					if refuse {
						w.WriteHeader(http.StatusMethodNotAllowed)
						return nil
					}
					w.Header().Set("Content-Type", "text/event-stream")
					io.WriteString(w, "id: up-2\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"done\":true}}\n\n")
					return nil
				}
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "id: up-0\ndata: \n\nretry: 20\n\n")
				io.WriteString(w, "id: up-1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"working\"}}\n\n")
				return nil // the upstream closes its stream without the response
			})
			evs := events(collect(t, readStream(f.postRev(context.Background(), toolCall("3", ""), "2025-11-25", "sess-1", "Bearer x").Body)))
			h := <-gets
			if h.Get("Last-Event-ID") != "up-1" || h.Get("Mcp-Session-Id") != "sess-1" || h.Get("Authorization") != "Bearer x" ||
				!strings.Contains(h.Get("Accept"), "text/event-stream") {
				t.Fatalf("the resuming GET's headers: %v", h)
			}
			last := decode(t, evs[len(evs)-1])
			if !strings.Contains(strings.Join(evs, "\n"), `"working"`) {
				t.Fatalf("the upstream's notification was not relayed: %q", evs)
			}
			switch {
			case !refuse && (string(last.ID) != "3" || last.Result == nil):
				t.Fatalf("last event %s, want the response", evs[len(evs)-1])
			case refuse && (last.Error == nil || !strings.Contains(last.Error.Message, "resuming it by GET was answered 405")):
				t.Fatalf("last event %s, want an error naming the refused resumption", evs[len(evs)-1])
			}
			f.waitServed()
		})
	}
}

// TestHeldResponseKeepsHeaders checks that a held call's event stream carries
// the upstream's Mcp-Session-Id and Set-Cookie when the upstream sent them
// within the grace period, and none of its other headers.
func TestHeldResponseKeepsHeaders(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, testConfig(), func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Mcp-Session-Id", "stateless-1")
		w.Header().Add("Set-Cookie", "affinity=a; Path=/")
		w.Header().Add("Set-Cookie", "other=b")
		w.Header().Set("X-Upstream-Only", "1")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
		return nil
	})
	resp := f.post(context.Background(), toolCall("1", ""))
	close(release)
	collect(t, readStream(resp.Body))
	if resp.Header.Get("Mcp-Session-Id") != "stateless-1" || len(resp.Header.Values("Set-Cookie")) != 2 ||
		resp.Header.Get("X-Upstream-Only") != "" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("held response headers: %v", resp.Header)
	}
	f.waitServed()
}
