package legacy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/sse"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testConfig is a config with short times for tests.
func testConfig() keepalive.Config {
	cfg := keepalive.DefaultConfig()
	cfg.Interval = 20 * time.Millisecond
	return cfg
}

// upstream is a fake legacy MCP server in the place of reverse_proxy: a GET
// opens a session whose stream writes the chunks the test pushes, a POST is
// recorded and answered 202.
type upstream struct {
	t *testing.T
	// endpoint returns the endpoint event's data for a session id.
	endpoint func(id string) string
	// postStatus is the status POSTs get; 0 means 202.
	postStatus int

	mu      sync.Mutex
	n       int
	streams map[string]chan []byte
	// opened receives each session's id once its endpoint is written.
	opened chan string
	// posts receives each POST's body.
	posts chan []byte
}

// newUpstream returns a fake upstream whose endpoints are relative URLs.
func newUpstream(t *testing.T) *upstream {
	return &upstream{
		t:        t,
		endpoint: func(id string) string { return "/messages?sessionId=" + id },
		streams:  make(map[string]chan []byte),
		opened:   make(chan string, 16),
		posts:    make(chan []byte, 16),
	}
}

// serve is the next handler.
func (u *upstream) serve(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	switch r.Method {
	case http.MethodGet:
		u.mu.Lock()
		u.n++
		id := fmt.Sprintf("session-%d", u.n)
		ch := make(chan []byte, 64)
		u.streams[id] = ch
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if _, err := io.WriteString(w, "event: endpoint\ndata: "+u.endpoint(id)+"\n\n"); err != nil {
			return err
		}
		_ = rc.Flush()
		u.opened <- id
		for {
			select {
			case b, ok := <-ch:
				if !ok {
					return nil
				}
				if _, err := w.Write(b); err != nil {
					return err
				}
				_ = rc.Flush()
			case <-r.Context().Done():
				return nil
			}
		}
	case http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		u.posts <- body
		status := u.postStatus
		if status == 0 {
			status = http.StatusAccepted
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status))
		return nil
	}
	w.WriteHeader(http.StatusMethodNotAllowed)
	return nil
}

// push makes session id's stream write b.
func (u *upstream) push(id string, b string) {
	u.mu.Lock()
	ch := u.streams[id]
	u.mu.Unlock()
	ch <- []byte(b)
}

// end ends session id's stream from the upstream's side.
func (u *upstream) end(id string) {
	u.mu.Lock()
	ch := u.streams[id]
	u.mu.Unlock()
	close(ch)
}

// fixture serves a Tracker in front of a next function over real HTTP; what
// the Tracker does not handle goes to next directly, as the glue does.
type fixture struct {
	t      *testing.T
	tr     *Tracker
	reg    *Registry
	slots  *keepalive.Slots
	obs    *recorder
	srv    *httptest.Server
	client *http.Client
	logs   *observer.ObservedLogs
	// served receives each time a request's handler returns.
	served chan struct{}
}

// newFixture starts a server with a Tracker for cfg in front of next.
func newFixture(t *testing.T, cfg keepalive.Config, next keepalive.Next) *fixture {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	f := &fixture{t: t, reg: NewRegistry(), slots: new(keepalive.Slots), obs: new(recorder), logs: logs, served: make(chan struct{}, 64)}
	f.tr = New(cfg, f.slots, f.reg, zap.New(core))
	f.tr.Observer = f.obs
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { f.served <- struct{}{} }()
		handled, err := f.tr.ServeHTTP(w, r, next)
		if !handled {
			err = next(w, r)
		}
		if err != nil {
			t.Logf("handler error: %v", err)
		}
	}))
	tr := &http.Transport{DisableCompression: true}
	f.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		f.srv.Close()
	})
	return f
}

// post sends a JSON-RPC message to a message URL, relative to the server.
func (f *fixture) post(path, body string) *http.Response {
	f.t.Helper()
	resp, _ := f.postBody(path, body)
	return resp
}

// postBody is post that also returns the response's body. It may be called
// from any goroutine.
func (f *fixture) postBody(path, body string) (*http.Response, []byte) {
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu         sync.Mutex
	finished   []string
	keepAlives map[string]int
}

// Finished records the outcome.
func (o *recorder) Finished(outcome string, _ time.Duration) {
	o.mu.Lock()
	o.finished = append(o.finished, outcome)
	o.mu.Unlock()
}

// KeepAlive counts the kind.
func (o *recorder) KeepAlive(kind string) {
	o.mu.Lock()
	if o.keepAlives == nil {
		o.keepAlives = map[string]int{}
	}
	o.keepAlives[kind]++
	o.mu.Unlock()
}

// Replayed does nothing: the legacy transport has no resumption.
func (o *recorder) Replayed(string) {}

// outcomes returns the outcomes reported so far, in order, joined by commas.
func (o *recorder) outcomes() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.finished, ",")
}

// keepAliveCount returns how many keep-alives of kind were reported.
func (o *recorder) keepAliveCount(kind string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.keepAlives[kind]
}

// clientStream is a GET stream as a client reads it: its raw bytes and its
// events, decoded by the WHATWG rules.
type clientStream struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	events chan sse.Event
	stop   chan struct{} // closed by close: events are no longer taken
	done   chan struct{}

	once sync.Once
	mu   sync.Mutex
	raw  []byte
}

// open sends a GET for an event stream and reads it in the background until
// the test ends.
func (f *fixture) open(path string, header http.Header) *clientStream {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := f.client.Do(req)
	if err != nil {
		cancel()
		f.t.Fatal(err)
	}
	cs := &clientStream{t: f.t, resp: resp, cancel: cancel, events: make(chan sse.Event, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	go cs.read()
	f.t.Cleanup(cs.close)
	return cs
}

// read collects the stream until it ends.
func (cs *clientStream) read() {
	defer close(cs.done)
	defer close(cs.events)
	var dec sse.Decoder
	buf := make([]byte, 4096)
	for {
		n, err := cs.resp.Body.Read(buf)
		if n > 0 {
			cs.mu.Lock()
			cs.raw = append(cs.raw, buf[:n]...)
			cs.mu.Unlock()
			dec.Feed(buf[:n], func(ev sse.Event) {
				select {
				case cs.events <- ev:
				case <-cs.stop:
				}
			})
		}
		if err != nil {
			return
		}
	}
}

// close drops the connection and waits for the reader.
func (cs *clientStream) close() {
	cs.once.Do(func() { close(cs.stop) })
	cs.cancel()
	cs.resp.Body.Close()
	<-cs.done
}

// bytes returns what arrived so far.
func (cs *clientStream) bytes() []byte {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return bytes.Clone(cs.raw)
}

// next returns the next event, failing the test after a while.
func (cs *clientStream) next() sse.Event {
	cs.t.Helper()
	select {
	case ev, ok := <-cs.events:
		if !ok {
			cs.t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		cs.t.Fatal("no event in 5 s")
	}
	return sse.Event{}
}

// until returns the events up to and including the first for which stop
// reports true.
func (cs *clientStream) until(stop func(sse.Event) bool) []sse.Event {
	cs.t.Helper()
	var evs []sse.Event
	for {
		ev := cs.next()
		evs = append(evs, ev)
		if stop(ev) {
			return evs
		}
	}
}

// quiet returns the events that arrive within d.
func (cs *clientStream) quiet(d time.Duration) []sse.Event {
	var evs []sse.Event
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-cs.events:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-t.C:
			return evs
		}
	}
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
