package hold

import (
	"github.com/caddy-stata/caddy-stata/internal/keepalive"

	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-stata/caddy-stata/internal/sse"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixture serves a Handler in front of a next function over real HTTP.
type fixture struct {
	t      *testing.T
	h      *Handler
	srv    *httptest.Server
	client *http.Client
	logs   *observer.ObservedLogs
	// served receives each time the handler's ServeHTTP returns.
	served chan struct{}
	// requestDone receives the context Done channel of each request.
	requestDone chan (<-chan struct{})
}

// newFixture starts a server whose handler is a Handler for cfg in front of
// next.
func newFixture(t *testing.T, cfg keepalive.Config, next keepalive.Next) *fixture {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	f := &fixture{t: t, logs: logs, served: make(chan struct{}, 16), requestDone: make(chan (<-chan struct{}), 16)}
	f.h = New(cfg, nil, nil, nil, zap.New(core))
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { f.served <- struct{}{} }()
		f.requestDone <- r.Context().Done()
		if err := f.h.ServeHTTP(w, r, next); err != nil {
			http.Error(w, "next failed: "+err.Error(), http.StatusBadGateway)
		}
	}))
	tr := &http.Transport{}
	f.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		f.srv.Close()
		f.h.Wait()
	})
	return f
}

// testConfig is a config with short times for tests.
func testConfig() keepalive.Config {
	cfg := keepalive.DefaultConfig()
	cfg.Grace = 50 * time.Millisecond
	cfg.Interval = 20 * time.Millisecond
	return cfg
}

// post sends a JSON-RPC body the way an MCP client does.
func (f *fixture) post(ctx context.Context, body string) *http.Response {
	f.t.Helper()
	return f.send(ctx, http.MethodPost, body, header(
		"Content-Type", "application/json", "Accept", "application/json, text/event-stream"))
}

// send sends a request to the fixture's server and closes its response's
// body when the test ends.
func (f *fixture) send(ctx context.Context, method, body string, h http.Header) *http.Response {
	f.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, f.srv.URL+"/mcp", strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header = h
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// header builds a header from name, value pairs, leaving out empty values.
func header(pairs ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			h.Set(pairs[i], pairs[i+1])
		}
	}
	return h
}

// item is one thing read from an event stream: an event, or a comment.
type item struct {
	comment bool
	ev      sse.Event
}

// readStream reads an event stream to its end, sending each event and comment
// on the returned channel, which is closed at the end.
func readStream(body io.Reader) <-chan item {
	ch := make(chan item, 1024)
	go func() {
		defer close(ch)
		// Comments are not events; find them by line before decoding.
		br := bufio.NewReader(body)
		dec := sse.NewDecoder(0)
		for {
			line, err := br.ReadString('\n')
			if strings.HasPrefix(line, ":") {
				ch <- item{comment: true}
			}
			dec.Feed([]byte(line), func(ev sse.Event) { ch <- item{ev: ev} })
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// collect reads every item of a stream.
func collect(t *testing.T, ch <-chan item) []item {
	t.Helper()
	var items []item
	timeout := time.After(10 * time.Second)
	for {
		select {
		case it, ok := <-ch:
			if !ok {
				return items
			}
			items = append(items, it)
		case <-timeout:
			t.Fatalf("stream did not end; got %d items", len(items))
		}
	}
}

// rpc is a decoded JSON-RPC message, for assertions.
type rpc struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		ProgressToken json.RawMessage `json:"progressToken"`
		Progress      float64         `json:"progress"`
		Total         *float64        `json:"total"`
		Message       string          `json:"message"`
	} `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decode parses the data of an event.
func decode(t *testing.T, data string) rpc {
	t.Helper()
	var m rpc
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	return m
}

// events returns the data of the non-comment items.
func events(items []item) []string {
	var out []string
	for _, it := range items {
		if !it.comment {
			out = append(out, it.ev.Data)
		}
	}
	return out
}

// toolCall returns a tools/call body with the given raw id and token ("" for
// none).
func toolCall(id, token string) string {
	meta := ""
	if token != "" {
		meta = `,"_meta":{"progressToken":` + token + `}`
	}
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"slow","arguments":{}` + meta + `}}`
}

// writeJSON answers like a buffering MCP server.
func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, body)
}

// waitServed waits until the handler's ServeHTTP has returned once.
func (f *fixture) waitServed() {
	f.t.Helper()
	select {
	case <-f.served:
	case <-time.After(10 * time.Second):
		f.t.Fatal("the handler did not return")
	}
}

// zapString is a string log field, for filtering observed logs.
func zapString(key, value string) zap.Field { return zap.String(key, value) }

// lastRequestDone returns the context Done channel of the next request the
// server received, which closes when its client goes or the handler returns.
func (f *fixture) lastRequestDone() <-chan struct{} {
	f.t.Helper()
	select {
	case ch := <-f.requestDone:
		return ch
	case <-time.After(10 * time.Second):
		f.t.Fatal("no request arrived")
		return nil
	}
}
