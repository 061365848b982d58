package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// The upstream is a minimal JSON-RPC responder, so that what the bench
// measures is the proxy. It answers tools/list, and tools/call of these
// tools, each with one application/json body:
//
//   - fast: at once;
//   - sleep {ms}: after ms milliseconds;
//   - gate {gate}: when the bench releases the gate (GET /release?gate=...;
//     GET /waiting?gate=... tells how many calls wait there);
//   - large {size, delay_ms, sse}: after delay_ms, a result with a text of
//     size bytes, as JSON, or as one SSE message event when sse is true;
//   - burst {gate, count}: when the gate is released, an event stream of
//     count notifications/message events, as fast as they go, then the
//     result.
//
// It speaks HTTP/1.1 and, with prior knowledge, HTTP/2 without TLS (h2c).

// upstreamRequest is the part of a JSON-RPC request the upstream reads.
type upstreamRequest struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name      string `json:"name"`
		Arguments struct {
			Ms      int    `json:"ms"`
			Gate    string `json:"gate"`
			Size    int    `json:"size"`
			DelayMs int    `json:"delay_ms"`
			SSE     bool   `json:"sse"`
			Count   int    `json:"count"`
		} `json:"arguments"`
	} `json:"params"`
}

// gates are the gates the gate tool waits on, by name.
type gates struct {
	mu      sync.Mutex
	m       map[string]chan struct{}
	waiting map[string]int // calls waiting at each gate now
}

// wait blocks until gate name is released or done is closed, counting the
// call as waiting meanwhile. It reports whether the gate was released.
func (g *gates) wait(name string, done <-chan struct{}) bool {
	ch := g.get(name)
	g.mu.Lock()
	g.waiting[name]++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.waiting[name]--
		g.mu.Unlock()
	}()
	select {
	case <-ch:
		return true
	case <-done:
		return false
	}
}

// count returns how many calls wait at gate name.
func (g *gates) count(name string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting[name]
}

// get returns the channel of gate name, closed once it is released.
func (g *gates) get(name string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch, ok := g.m[name]
	if !ok {
		ch = make(chan struct{})
		g.m[name] = ch
	}
	return ch
}

// release opens gate name.
func (g *gates) release(name string) {
	ch := g.get(name)
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// runUpstream is the upstream role: it listens on a free loopback port,
// prints the address on stdout and serves until its stdin closes.
func runUpstream() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	g := &gates{m: map[string]chan struct{}{}, waiting: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /release", func(w http.ResponseWriter, r *http.Request) {
		g.release(r.URL.Query().Get("gate"))
	})
	mux.HandleFunc("GET /waiting", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, g.count(r.URL.Query().Get("gate")))
	})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) { serveRPC(w, r, g) })
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:     mux,
		Protocols:   protocols,
		HTTP2:       &http.HTTP2Config{MaxConcurrentStreams: 1000},
		IdleTimeout: 10 * time.Minute,
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Println(l.Addr().String())
	return srv.Serve(l)
}

// serveRPC answers one JSON-RPC POST.
func serveRPC(w http.ResponseWriter, r *http.Request, g *gates) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var req upstreamRequest
	if err := json.Unmarshal(body, &req); err != nil || req.ID == nil {
		writeJSON(w, http.StatusBadRequest, []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`))
		return
	}
	switch {
	case req.Method == "tools/list":
		writeJSON(w, http.StatusOK, result(req.ID, `{"tools":[{"name":"fast","inputSchema":{"type":"object"}},{"name":"sleep","inputSchema":{"type":"object"}}]}`))
		return
	case req.Method != "tools/call":
		writeJSON(w, http.StatusOK, result(req.ID, `{}`))
		return
	}
	args := req.Params.Arguments
	switch req.Params.Name {
	case "fast":
	case "sleep":
		select {
		case <-time.After(time.Duration(args.Ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	case "gate":
		if !g.wait(args.Gate, r.Context().Done()) {
			return
		}
	case "burst":
		if !g.wait(args.Gate, r.Context().Done()) {
			return
		}
		writeBurst(w, req.ID, args.Count)
		return
	case "large":
		select {
		case <-time.After(time.Duration(args.DelayMs) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		writeLarge(w, req.ID, args.Size, args.SSE)
		return
	default:
		writeJSON(w, http.StatusOK, []byte(`{"jsonrpc":"2.0","id":`+string(req.ID)+`,"error":{"code":-32602,"message":"unknown tool"}}`))
		return
	}
	writeJSON(w, http.StatusOK, result(req.ID, `{"content":[{"type":"text","text":"ok"}]}`))
}

// result encodes a JSON-RPC result response.
func result(id json.RawMessage, res string) []byte {
	b := make([]byte, 0, 40+len(id)+len(res))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"result":`...)
	b = append(b, res...)
	return append(b, '}')
}

// writeJSON answers with body as application/json.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// largeChunk is what a large result's text is made of.
var largeChunk = bytes.Repeat([]byte("x"), 64<<10)

// writeLarge answers with a result whose text is size bytes, written in
// 64 KiB pieces, as JSON with a Content-Length or as one SSE event.
func writeLarge(w http.ResponseWriter, id json.RawMessage, size int, sse bool) {
	head := []byte(`{"jsonrpc":"2.0","id":` + string(id) + `,"result":{"content":[{"type":"text","text":"`)
	tail := []byte(`"}]}}`)
	if sse {
		head = append([]byte("event: message\ndata: "), head...)
		tail = append(tail, "\n\n"...)
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(head)+size+len(tail)))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err != nil {
		return
	}
	for size > 0 {
		n := min(size, len(largeChunk))
		if _, err := w.Write(largeChunk[:n]); err != nil {
			return
		}
		size -= n
	}
	_, _ = w.Write(tail)
}

// writeBurst answers with an event stream of count notifications, each
// flushed, then the result.
func writeBurst(w http.ResponseWriter, id json.RawMessage, count int) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for i := range count {
		if _, err := fmt.Fprintf(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"event %d of %d\"}}\n\n", i+1, count); err != nil {
			return
		}
		_ = rc.Flush()
	}
	_, _ = w.Write([]byte("event: message\ndata: "))
	_, _ = w.Write(result(id, `{"content":[{"type":"text","text":"ok"}]}`))
	_, _ = w.Write([]byte("\n\n"))
}
