package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// The engine's guarantees seen from outside the built binary: a large result
// resumed whole through a spill file with a bounded heap, a resumption
// across dropped events refused with 409, and fast calls that leave no
// goroutine behind.

// startRawUpstream serves handler on a loopback port and returns its
// host:port. The handler only needs to speak JSON-RPC over HTTP: the
// mcp_keepalive handler in front of it does not care what kind of server it
// is.
func startRawUpstream(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// adminMetric reads the sample named name (with its labels, as Prometheus
// writes them) from the admin endpoint's /metrics with client. Unlike
// metric it returns its error, so that a goroutine may call it; a missing
// sample is an error too.
func adminMetric(client *http.Client, admin, name string) (float64, error) {
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no sample %s in /metrics", name)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// collectGarbage makes caddy-stata run a garbage collection, through the
// heap profile of its admin endpoint, so that a heap reading after it counts
// live memory only.
func collectGarbage(t *testing.T, admin string) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/debug/pprof/heap?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("heap profile: %s", resp.Status)
	}
}

// heapSampler reads caddy-stata's Go heap every 20 ms until stopped.
type heapSampler struct {
	once    sync.Once
	stop    chan struct{}
	done    chan struct{}
	peak    float64
	samples int
	err     error
}

// sampleHeap starts reading metric name of the admin endpoint admin.
func sampleHeap(admin, name string) *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			v, err := adminMetric(client, admin, name)
			if err != nil {
				s.err = err
				return
			}
			s.samples++
			s.peak = max(s.peak, v)
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the highest reading and how many were
// taken. It may be called more than once.
func (s *heapSampler) Stop() (peak float64, samples int, err error) {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.peak, s.samples, s.err
}

// spillFiles lists the spill files in dir.
func spillFiles(t *testing.T, dir string) []os.FileInfo {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "mcp-keepalive-*.spill"))
	if err != nil {
		t.Fatal(err)
	}
	var files []os.FileInfo
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil {
			files = append(files, fi)
		}
	}
	return files
}

// largeChunk is one piece of the large result's text; largeChunks of them
// make 50 MiB. Neither the upstream nor the client holds the whole text.
var largeChunk = bytes.Repeat([]byte("0123456789abcdef"), 32<<10/16)

const (
	largeChunks = 1600
	largeText   = largeChunks * 32 << 10
	largeHead   = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"`
	largeTail   = `"}]}}`
	largeSize   = len(largeHead) + largeText + len(largeTail)
)

// writeLarge writes the large result to w.
func writeLarge(w io.Writer) error {
	if _, err := io.WriteString(w, largeHead); err != nil {
		return err
	}
	for range largeChunks {
		if _, err := w.Write(largeChunk); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, largeTail)
	return err
}

// TestLargeResultResumedThroughBinary holds a call whose upstream answers
// after 1.5 s with a 50 MiB JSON result. The client reads the priming event
// and about half of the result, drops, and resumes by GET: it gets the
// whole result event, byte-identical. Meanwhile caddy-stata's Go heap stays
// within 32 MiB of its idle size, the result goes through a spill file in
// spill_dir, and that file is removed when the stream expires.
func TestLargeResultResumedThroughBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 100 MB")
	}
	const resume = 10 * time.Second
	up := startRawUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !bytes.Contains(body, []byte(`"method":"tools/call"`)) || !bytes.Contains(body, []byte(`"id":1,`)) {
			jsonReply(w, http.StatusBadRequest, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"want tools/call with id 1"}}`)
			return
		}
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(largeSize))
		writeLarge(w)
	})
	spill := t.TempDir()
	c := startCaddy(t, up, fmt.Sprintf(`
	mcp_keepalive {
		grace 200ms
		resume %v
		spill_dir %q
	}
	reverse_proxy {upstream}`, resume, spill))
	url := c.URL + "/mcp"
	want := sha256.New()
	writeLarge(want)

	collectGarbage(t, c.Admin)
	const heapMetric = "go_memstats_heap_alloc_bytes"
	idle, err := adminMetric(http.DefaultClient, c.Admin, heapMetric)
	if err != nil {
		t.Fatal(err)
	}
	sampler := sampleHeap(c.Admin, heapMetric)
	defer sampler.Stop()

	// The first client reads the priming event and about half of the
	// result, then drops.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := rawRequest(ctx, t, url, "large-session",
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"large","arguments":{}}}`)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	resp, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("not held: %s %s", resp.Status, ct)
	}
	var dispatched []sse.Event
	dec := sse.NewDecoder(0)
	dec.Split(64<<10, func([]byte) {})
	buf := make([]byte, 32<<10)
	read := 0
	for read < largeSize/2 {
		n, err := resp.Body.Read(buf)
		dec.Feed(buf[:n], func(ev sse.Event) { dispatched = append(dispatched, ev) })
		read += n
		if err != nil {
			t.Fatalf("first read: %v after %d bytes", err, read)
		}
	}
	cancel()
	resp.Body.Close()
	if len(dispatched) != 1 || dispatched[0].Data != "" || !strings.HasPrefix(dispatched[0].ID, "mka-") ||
		!strings.HasSuffix(dispatched[0].ID, "-0") {
		t.Fatalf("before the drop the client got %+v, want only the priming event", dispatched)
	}
	priming := dispatched[0].ID

	// The upstream's answer is complete (typically before the client read
	// half of it: the upstream writes faster than the client reads); the
	// stream is kept for resume, its result in a spill file.
	waitFinished(t, c, "1", `"outcome":"response"`, fmt.Sprintf(`"upstream_bytes":%d`, largeSize))
	files := spillFiles(t, spill)
	if len(files) != 1 || files[0].Size() < int64(largeSize) {
		t.Fatalf("spill files after the call: %v, want one of at least %d bytes", files, largeSize)
	}

	start := time.Now()
	got := sha256.New()
	gotSize, parted := 0, 0
	var final sse.Event
	dec = sse.NewDecoder(0)
	dec.Split(64<<10, func(p []byte) { got.Write(p); gotSize += len(p) })
	resumed := rawGET(t, url, "large-session", priming)
	if ct := resumed.Header.Get("Content-Type"); resumed.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("resumption: %s %s", resumed.Status, ct)
	}
	for {
		n, err := resumed.Body.Read(buf)
		dec.Feed(buf[:n], func(ev sse.Event) {
			final = ev
			if ev.Parted {
				parted++
			}
		})
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("resumed read: %v after %d bytes of the result", err, gotSize)
		}
	}
	took := time.Since(start)
	peak, samples, err := sampler.Stop()
	if err != nil {
		t.Fatalf("sampling the heap: %v", err)
	}
	if !final.Parted || parted != 1 || gotSize != largeSize || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("resumed result: last event parted %v, %d parted events, %d bytes, want %d, same bytes %v",
			final.Parted, parted, gotSize, largeSize, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	rise := peak - idle
	t.Logf("heap %.1f MiB idle, %.1f MiB at the peak of %d samples; the resumed 50 MiB took %v",
		idle/(1<<20), peak/(1<<20), samples, took)
	if samples < 10 {
		t.Fatalf("only %d heap samples", samples)
	}
	if rise > 32<<20 {
		t.Fatalf("heap rose by %.1f MiB while relaying the result", rise/(1<<20))
	}

	// The stream expires resume after the call ended; its spill file goes
	// with it. Nothing signals that, so the folder is polled.
	deadline := time.Now().Add(resume + 10*time.Second)
	for len(spillFiles(t, spill)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("spill files %v still there after the stream expired", spillFiles(t, spill))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := rawGET(t, url, "large-session", priming); r.StatusCode != http.StatusNotFound {
		t.Fatalf("resumption of the expired stream: %s", r.Status)
	}
}

// TestResumeAcrossGapGets409 drops the priming event's successors from a
// stream (store_limit 16KiB, no room to spill) and resumes after the
// priming event: the client gets 409 and a JSON-RPC error saying events
// were dropped, the resumption is counted as a gap and logged.
func TestResumeAcrossGapGets409(t *testing.T) {
	note := `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"` + strings.Repeat("x", 1000) + `"}}`
	wrote, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	up := startRawUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for range 100 {
			fmt.Fprintf(w, "data: %s\n\n", note)
		}
		http.NewResponseController(w).Flush()
		once.Do(func() { close(wrote) })
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n")
	})
	c := startCaddy(t, up, fmt.Sprintf(`
	mcp_keepalive {
		grace 0
		store_limit 16KiB
		spill_dir %q
		spill_limit 1
	}
	reverse_proxy {upstream}`, t.TempDir()))
	url := c.URL + "/mcp"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := rawRequest(ctx, t, url, "gap-session",
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"chatty","arguments":{}}}`)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	resp, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	priming := readPriming(t, resp.Body)
	if priming.Data != "" || !strings.HasSuffix(priming.ID, "-0") {
		t.Fatalf("first event %+v, want the priming event", priming)
	}
	cancel()
	resp.Body.Close()

	select {
	case <-wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream did not write its notifications")
	}
	// That the upstream wrote them does not tell that caddy-stata has
	// stored them; that it logged the end of the call does, since the
	// response comes after them.
	close(release)
	waitFinished(t, c, "1", `"outcome":"response"`, `"client_gone":true`)

	gap := rawGET(t, url, "gap-session", priming.ID)
	body, _ := io.ReadAll(gap.Body)
	var m rpcMessage
	if gap.StatusCode != http.StatusConflict || json.Unmarshal(body, &m) != nil || m.Error == nil ||
		!strings.Contains(m.Error.Message, "dropped") || bytes.Contains(body, []byte("notifications/message")) {
		t.Fatalf("resumption across the gap: %s %s", gap.Status, body)
	}
	if ct := gap.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("409 with content type %q", ct)
	}
	if v := metric(t, c, `caddy_mcp_keepalive_replays_total{result="gap"}`); v != 1 {
		t.Errorf(`replays_total{result="gap"} = %v, want 1`, v)
	}
	if v := metric(t, c, `caddy_mcp_keepalive_replays_total{result="served"}`); v > 0 {
		t.Errorf(`replays_total{result="served"} = %v, want none`, v)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	if _, err := c.waitLog(lctx, "resumption refused: events after the cursor were dropped for space"); err != nil {
		t.Fatal(err)
	}
}

// TestFastPathNoGoroutineInBinary checks from outside, on the built binary,
// that a tools/call answered within the grace period runs its upstream call
// on the request's own goroutine: while the upstream is handling a call, no
// goroutine of caddy-stata has a frame of the held-call engine without being
// a request's goroutine (net/http's conn.serve), and after a burst of fast
// calls no goroutine has one at all; and that none of them was held.
func TestFastPathNoGoroutineInBinary(t *testing.T) {
	var admin string
	var mu sync.Mutex
	var strays []string
	const probes = 20
	up := startRawUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || msg.ID == nil {
			jsonReply(w, http.StatusBadRequest, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}`)
			return
		}
		var n int
		if _, err := fmt.Sscan(string(msg.ID), &n); err == nil && n <= probes {
			// The call is in the upstream now: look at caddy-stata's
			// goroutines while it waits for this answer.
			if s := engineGoroutines(t, admin, false); len(s) > 0 {
				mu.Lock()
				strays = append(strays, s...)
				mu.Unlock()
			}
		}
		jsonReply(w, http.StatusOK, `{"jsonrpc":"2.0","id":`+string(msg.ID)+`,"result":{"content":[{"type":"text","text":"quick"}]}}`)
	})
	c := startCaddy(t, up, `
	mcp_keepalive
	reverse_proxy {upstream}`)
	admin = c.Admin
	url := c.URL + "/mcp"
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}}
	defer client.CloseIdleConnections()
	for i := 1; i <= 500; i++ {
		resp, err := client.Do(rawRequest(context.Background(), t, url, "",
			fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"quick","arguments":{}}}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" ||
			!bytes.Contains(body, []byte(fmt.Sprintf(`"id":%d,"result"`, i))) {
			t.Fatalf("call %d: %s %s %s %v", i, resp.Status, resp.Header.Get("Content-Type"), body, err)
		}
	}
	mu.Lock()
	if len(strays) > 0 {
		t.Errorf("while the upstream handled fast calls, caddy-stata ran the engine on goroutines of its own:\n%s", strings.Join(strays, "\n\n"))
	}
	mu.Unlock()
	if s := engineGoroutines(t, admin, true); len(s) > 0 {
		t.Errorf("after 500 fast calls, goroutines of the engine are left:\n%s", strings.Join(s, "\n\n"))
	}
	// No outcome of a held call was counted, whatever its label.
	resp, err := http.Get("http://" + c.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^caddy_mcp_keepalive_calls_finished_total\S* (\S+)$`).FindAllSubmatch(metrics, -1) {
		if string(m[1]) != "0" {
			t.Errorf("a fast call was held: %s", m[0])
		}
	}
	if v := metric(t, c, "caddy_mcp_keepalive_calls_held"); v > 0 {
		t.Errorf("caddy_mcp_keepalive_calls_held = %v", v)
	}
}

// engineGoroutines returns the stacks, from caddy-stata's goroutine profile,
// that have a frame of the held-call engine (internal/hold): all of them when
// all is set, else those that are not a request's own goroutine.
// It may run on any goroutine: a failure to read the profile is an error,
// not a fatal one.
func engineGoroutines(t *testing.T, admin string, all bool) []string {
	resp, err := noKeepAlive.Get("http://" + admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Errorf("goroutine profile: %v", err)
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("goroutine profile: %v %s", err, resp.Status)
		return nil
	}
	profile := string(b)
	var found []string
	for _, stack := range strings.Split(profile, "\n\n") {
		if strings.Contains(stack, "caddy-stata/internal/hold.") &&
			(all || !strings.Contains(stack, "net/http.(*conn).serve")) {
			found = append(found, stack)
		}
	}
	return found
}
