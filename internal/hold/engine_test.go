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
	for i, n := range during {
		if n != before {
			t.Fatalf("call %d: %d goroutines while the upstream was called, %d before the burst", i, n, before)
		}
	}
	if after := runtime.NumGoroutine(); after != before {
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
