// Package legacy keeps tool calls alive on the legacy HTTP+SSE transport of
// MCP (2024-11-05), in plain net/http. There the client opens a long-lived
// GET stream whose first event, endpoint, names the URL to POST messages to;
// each POST is answered 202 and every response arrives on the GET stream.
// The Tracker relays that stream event by event, unchanged, remembers the
// tools/call requests POSTed to the session, and while any is pending
// injects, between the upstream's events, notifications/progress for the
// client's progress tokens or comment lines, until the response passes.
package legacy

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// Next is the rest of the handler chain, in the shape of Caddy's
// caddyhttp.Handler.ServeHTTP.
type Next func(http.ResponseWriter, *http.Request) error

// Tracker finds legacy sessions among the requests it sees and keeps their
// tool calls alive. It is safe for concurrent use; its sessions live in a
// Registry that may outlive it.
type Tracker struct {
	cfg Config
	reg *Registry
	log *zap.Logger
}

// New returns a Tracker for cfg, which must be valid, keeping its sessions in
// reg (nil gives it a registry of its own).
func New(cfg Config, reg *Registry, log *zap.Logger) *Tracker {
	if reg == nil {
		reg = NewRegistry()
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Tracker{cfg: cfg, reg: reg, log: log}
}

// ServeHTTP serves the requests of the legacy transport and reports whether
// r was one; when it was not, it has done nothing and the caller serves r
// itself. The requests it serves, each by passing it to next, are:
//
//   - a GET that accepts text/event-stream and carries neither
//     Last-Event-ID nor Mcp-Session-Id: a possible session's stream. Its
//     answer is watched, and relayed as it came unless it turns out to be a
//     legacy session's stream;
//   - a POST to the message URL of a session open here (a sessionId or
//     session_id query naming it): its tools/call requests become pending
//     calls, its notifications/cancelled end them.
//
// Errors are next's own, or the failure to read a POST's body.
func (t *Tracker) ServeHTTP(w http.ResponseWriter, r *http.Request, next Next) (handled bool, err error) {
	switch r.Method {
	case http.MethodGet:
		if !isStreamGet(r.Header) {
			return false, nil
		}
		return true, t.serveStream(w, r, next)
	case http.MethodPost:
		s := t.reg.lookup(sessionFromQuery(r.URL.RawQuery))
		if s == nil {
			return false, nil
		}
		return true, t.servePost(w, r, s, next)
	}
	return false, nil
}

// isStreamGet reports whether a GET's headers are those of a client opening a
// legacy session's stream. A Streamable HTTP client's stream of an existing
// session (Mcp-Session-Id) and a resumption (Last-Event-ID) are left alone.
func isStreamGet(h http.Header) bool {
	return mcpmsg.AcceptsEventStream(h) && h.Get("Last-Event-ID") == "" && h.Get("Mcp-Session-Id") == ""
}
