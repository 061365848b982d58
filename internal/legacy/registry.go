package legacy

import (
	"encoding/json"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// Outcomes of a pending call, as logged.
const (
	// OutcomeResponse: the upstream's response to the call passed down the
	// session's stream.
	OutcomeResponse = "response"
	// OutcomeCancelled: the client sent notifications/cancelled for it.
	OutcomeCancelled = "cancelled"
	// OutcomeStreamClosed: the session's stream closed first.
	OutcomeStreamClosed = "stream_closed"
	// OutcomePostFailed: the upstream did not accept the POST that carried
	// the call.
	OutcomePostFailed = "post_failed"
	// OutcomeReplaced: the client sent another call with the same id.
	OutcomeReplaced = "replaced"
	// OutcomeMaxDuration: the call was kept alive for max_duration, and no
	// longer.
	OutcomeMaxDuration = "max_duration"
)

// Registry holds the open legacy sessions by session id. It is meant to live
// at package level in the glue, so that a session opened before a config
// reload keeps its calls alive after it. It is safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	sessions map[string]*session
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{sessions: make(map[string]*session)}
}

// Len returns how many sessions are open.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// add registers s under its id. A session already there under the same id is
// replaced; it keeps its stream and its calls, but new calls go to s.
func (r *Registry) add(s *session) {
	r.mu.Lock()
	r.sessions[s.id] = s
	r.mu.Unlock()
}

// remove unregisters s, unless another session has replaced it.
func (r *Registry) remove(s *session) {
	r.mu.Lock()
	if r.sessions[s.id] == s {
		delete(r.sessions, s.id)
	}
	r.mu.Unlock()
}

// lookup returns the session with the id, or nil.
func (r *Registry) lookup(id string) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[id]
}

// session is one legacy session: its stream's owner reads and ends its
// pending calls, the POSTs to its message URL add and cancel them.
type session struct {
	id  string // never logged: it is what a client needs to post into the session
	log *zap.Logger

	// changed (capacity 1) tells the stream's loop that calls were added or
	// removed.
	changed chan struct{}

	mu     sync.Mutex
	calls  []*call // pending, oldest first
	closed bool    // the stream ended: no call is added any more
}

// call is one pending tools/call of a session.
type call struct {
	id    json.RawMessage // the request's id, as the client sent it
	token json.RawMessage // params._meta.progressToken, or nil
	tool  string
	start time.Time
	prog  mcpmsg.ProgressSeq // guarded by the session's mu
}

// newSession returns an open session with no calls.
func newSession(id string, log *zap.Logger) *session {
	return &session{id: id, log: log, changed: make(chan struct{}, 1)}
}

// signal wakes the stream's loop.
func (s *session) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// add makes c pending. A pending call with the same id is replaced. It
// reports false, adding nothing, once the session's stream has closed.
func (s *session) add(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	for i, old := range s.calls {
		if mcpmsg.SameID(old.id, c.id) {
			s.calls = append(s.calls[:i], s.calls[i+1:]...)
			s.logEnd(old, OutcomeReplaced)
			break
		}
	}
	s.calls = append(s.calls, c)
	s.signal()
	return true
}

// pending returns how many calls are pending.
func (s *session) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// endID ends the pending call with the id, if there is one, and reports
// whether there was.
func (s *session) endID(id json.RawMessage, outcome string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.calls {
		if mcpmsg.SameID(c.id, id) {
			s.removeAt(i, outcome)
			return true
		}
	}
	return false
}

// end ends c, if it is still pending.
func (s *session) end(c *call, outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.calls {
		if p == c {
			s.removeAt(i, outcome)
			return
		}
	}
}

// close ends every pending call and refuses new ones.
func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, c := range s.calls {
		s.logEnd(c, OutcomeStreamClosed)
	}
	s.calls = nil
}

// removeAt removes the call at i; s.mu must be held.
func (s *session) removeAt(i int, outcome string) {
	c := s.calls[i]
	s.calls = append(s.calls[:i], s.calls[i+1:]...)
	s.logEnd(c, outcome)
	s.signal()
}

// logEnd logs the end of a pending call.
func (s *session) logEnd(c *call, outcome string) {
	s.log.Info("legacy call finished",
		zap.String("tool", c.tool),
		zap.ByteString("id", c.id),
		zap.Duration("duration", time.Since(c.start)),
		zap.String("outcome", outcome))
}

// upstreamProgress passes the upstream's own progress notification for a
// pending call's token through the call's progress state. It returns the
// params to send instead when the values had to be shifted, and nil when the
// notification may pass unchanged (also when no pending call has the token).
func (s *session) upstreamProgress(pp *mcpmsg.ProgressParams) *mcpmsg.ProgressParams {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.calls {
		if c.token != nil && mcpmsg.SameID(c.token, pp.Token) {
			if c.prog.FromUpstream(pp) {
				return pp
			}
			return nil
		}
	}
	return nil
}

// keepAlive returns the progress notifications of one keep-alive: one for
// each pending call with a token whose upstream sent no progress of its own
// since the last keep-alive, when progress is on. It ends the calls pending
// for longer than maxDuration first. It reports whether any call is pending.
func (s *session) keepAlive(progressOn bool, maxDuration time.Duration) (notes [][]byte, pending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for i := 0; i < len(s.calls); {
		if now.Sub(s.calls[i].start) >= maxDuration {
			s.removeAt(i, OutcomeMaxDuration)
			continue
		}
		i++
	}
	for _, c := range s.calls {
		if c.token != nil && progressOn && !c.prog.Upstream {
			elapsed := now.Sub(c.start).Round(time.Second)
			notes = append(notes, mcpmsg.Progress(c.token, c.prog.Invent(), nil,
				c.tool+": running for "+elapsed.String()))
		}
		c.prog.Upstream = false
	}
	return notes, len(s.calls) > 0
}
