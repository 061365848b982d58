package stdio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// maxBody is the largest request body the handler reads.
const maxBody = 16 << 20

// streamKeepAlive is how often an open GET stream gets an SSE comment.
const streamKeepAlive = 15 * time.Second

// headerSession is the MCP session header.
const headerSession = "Mcp-Session-Id"

// revisions are the MCP revisions with sessions, oldest first; a client
// asking for one of them gets it.
var revisions = []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}

// ServeHTTP serves MCP Streamable HTTP: POST carries client messages, GET
// opens a session's stream (Accept: text/event-stream) or answers the
// health report (Accept: application/json), DELETE ends a session.
func (p *Pool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		p.post(w, r)
	case http.MethodGet:
		switch {
		case mcpmsg.AcceptsEventStream(r.Header):
			p.get(w, r)
		case strings.Contains(r.Header.Get("Accept"), "application/json"):
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(p.Health())
		default:
			http.Error(w, "accept text/event-stream (a session's stream) or application/json (the health report)", http.StatusNotAcceptable)
		}
	case http.MethodDelete:
		s := p.session(r.Header.Get(headerSession))
		if s == nil {
			http.Error(w, "unknown session", http.StatusNotFound)
			return
		}
		p.endSession(s)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// post serves one client message.
func (p *Pool) post(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		code := http.StatusBadRequest
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, code, errorResponse(nil, codeInvalidRequest, "mcp_stdio: reading the request: "+err.Error()))
		return
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		writeJSON(w, http.StatusBadRequest, errorResponse(nil, codeInvalidRequest, "mcp_stdio: batches are not supported"))
		return
	}
	o, err := decodeObject(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorResponse(nil, codeParseError, "mcp_stdio: parse error: "+err.Error()))
		return
	}
	method := o.str("method")
	_, hasID := o["id"]
	if method == "initialize" && hasID {
		p.initializeSession(w, r, o)
		return
	}
	s := p.session(r.Header.Get(headerSession))
	if s == nil {
		if r.Header.Get(headerSession) == "" {
			writeJSON(w, http.StatusBadRequest, errorResponse(o["id"], codeInvalidRequest, "mcp_stdio: missing Mcp-Session-Id; initialize first"))
		} else {
			writeJSON(w, http.StatusNotFound, errorResponse(o["id"], codeInvalidRequest, "mcp_stdio: unknown session"))
		}
		return
	}
	switch {
	case method == "" && hasID: // the client's answer to a worker's request
		if !p.answer(s, o) {
			writeJSON(w, http.StatusBadRequest, errorResponse(nil, codeInvalidRequest, "mcp_stdio: a response to no pending request"))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case method == "ping" && hasID:
		writeJSON(w, http.StatusOK, resultResponse(o["id"], struct{}{}))
	case hasID:
		p.serveCall(w, r, s, o)
	case method == "notifications/cancelled":
		params := o["params"]
		p.cancel(s, mcpmsg.IDKey(member(params, "requestId")), member(params, "reason"))
		w.WriteHeader(http.StatusAccepted)
	default: // initialized, roots/list_changed, ...: nothing for a worker
		w.WriteHeader(http.StatusAccepted)
	}
}

// initializeSession answers a client's initialize with the workers'
// initialize result at the revision negotiated for this client, and starts
// its session.
func (p *Pool) initializeSession(w http.ResponseWriter, r *http.Request, o object) {
	ctx, cancel := context.WithTimeout(r.Context(), max(p.cfg.HealthTimeout, minStartTimeout))
	defer cancel()
	var result object
	for {
		p.mu.Lock()
		res, lastErr, none := p.initResult, p.lastErr, p.noReadyLocked()
		p.mu.Unlock()
		if res != nil {
			result = res
			break
		}
		if lastErr != "" && none {
			writeJSON(w, http.StatusOK, errorResponse(o["id"], codeInternalError, "mcp_stdio: no worker is running: "+lastErr))
			return
		}
		select {
		case <-p.initReady:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			writeJSON(w, http.StatusOK, errorResponse(o["id"], codeInternalError, "mcp_stdio: no worker became ready in time"))
			return
		}
	}
	params := o["params"]
	var asked string
	_ = json.Unmarshal(member(params, "protocolVersion"), &asked)
	version := result.str("protocolVersion")
	if slices.Contains(revisions, asked) {
		version = asked
	}
	res := make(object, len(result))
	for k, v := range result {
		res[k] = v
	}
	res["protocolVersion"] = strID(version)
	s := p.newSession(version, params)
	w.Header().Set(headerSession, s.id)
	writeJSON(w, http.StatusOK, resultResponse(o["id"], res))
}

// serveCall runs a client request through the pool and writes what comes
// back: the response alone as JSON, or, once a notification or a worker's
// request comes first, an event stream ending with the response. A client
// that goes away does not cancel the call.
func (p *Pool) serveCall(w http.ResponseWriter, r *http.Request, s *session, o object) {
	c := &call{
		sess:     s,
		clientID: o["id"],
		key:      mcpmsg.IDKey(o["id"]),
		msg:      o,
		token:    progressToken(o["params"]),
		out:      newOutbox(),
		started:  time.Now(),
	}
	c.timer = time.AfterFunc(p.cfg.RequestTimeout, func() { p.expire(c) })
	if err := p.submit(c); err != nil {
		c.timer.Stop()
		code := http.StatusServiceUnavailable
		if !errors.Is(err, errBusy) {
			code = http.StatusInternalServerError
		}
		writeJSON(w, code, errorResponse(c.clientID, codeBusy, "mcp_stdio: "+err.Error()))
		return
	}
	streaming := false
	events := mcpmsg.AcceptsEventStream(r.Header)
	rc := http.NewResponseController(w)
	for {
		select {
		case <-c.out.ready():
		case <-r.Context().Done():
			return
		}
		msgs, closed := c.out.take()
		for i, m := range msgs {
			last := closed && i == len(msgs)-1
			if !streaming {
				if last {
					writeJSON(w, http.StatusOK, m)
					return
				}
				if !events {
					continue // nowhere to put it
				}
				h := w.Header()
				h.Set("Content-Type", "text/event-stream")
				h.Set("Cache-Control", "no-cache, no-transform")
				h.Set("X-Accel-Buffering", "no")
				w.WriteHeader(http.StatusOK)
				streaming = true
			}
			if _, err := sse.WriteEventBytes(w, "", "", m); err != nil {
				return
			}
		}
		if streaming {
			_ = rc.Flush()
		}
		if closed {
			return
		}
	}
}

// get serves a session's GET stream: notifications of the workers that
// belong to no call.
func (p *Pool) get(w http.ResponseWriter, r *http.Request) {
	s := p.session(r.Header.Get(headerSession))
	if s == nil {
		http.Error(w, "unknown or missing session", http.StatusNotFound)
		return
	}
	out, ok := p.openStream(s)
	if !ok {
		http.Error(w, "this session has a stream open already", http.StatusConflict)
		return
	}
	defer p.closeStream(s, out)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	t := time.NewTicker(streamKeepAlive)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
			if _, err := sse.WriteComment(w, "keepalive"); err != nil {
				return
			}
		case <-out.ready():
			msgs, closed := out.take()
			for _, m := range msgs {
				if _, err := sse.WriteEventBytes(w, "", "", m); err != nil {
					return
				}
			}
			if closed {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// writeJSON writes one JSON body.
func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
