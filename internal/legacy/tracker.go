package legacy

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// Tracker finds legacy sessions among the requests it sees and keeps their
// tool calls alive. It is safe for concurrent use; its sessions live in a
// Registry that may outlive it.
type Tracker struct {
	// Observer is told of each finished call and each keep-alive. New sets
	// keepalive.NopObserver; set it before the first request.
	Observer keepalive.Observer

	cfg   keepalive.Config
	slots *keepalive.Slots
	reg   *Registry
	log   *zap.Logger
}

// New returns a Tracker for cfg, which must be valid. Each pending call
// holds one of slots, shared with every other handler that counts against
// cfg.MaxHeld; the sessions are kept in reg. A nil slots or reg gives the
// Tracker its own.
func New(cfg keepalive.Config, slots *keepalive.Slots, reg *Registry, log *zap.Logger) *Tracker {
	if slots == nil {
		slots = new(keepalive.Slots)
	}
	if reg == nil {
		reg = NewRegistry()
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Tracker{Observer: keepalive.NopObserver{}, cfg: cfg, slots: slots, reg: reg, log: log}
}

// ServeHTTP serves the requests of the legacy transport and reports whether
// r was one; when it was not, it has done nothing and the caller serves r
// itself. The requests it serves, each by passing it to next unless it is
// refused, are:
//
//   - a GET that accepts text/event-stream and carries neither
//     Last-Event-ID nor Mcp-Session-Id: a possible session's stream. Its
//     answer is watched, and relayed as it came unless it turns out to be a
//     legacy session's stream;
//   - a POST to the message URL of a session open here (a sessionId or
//     session_id query naming it): its tools/call requests become pending
//     calls, its notifications/cancelled end them. A tools/call over
//     max_held is refused, 503 with a JSON-RPC error.
//
// Errors are next's own, or a *keepalive.RequestBodyError for a POST's body
// that could not be read.
func (t *Tracker) ServeHTTP(w http.ResponseWriter, r *http.Request, next keepalive.Next) (handled bool, err error) {
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
