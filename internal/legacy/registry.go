package legacy

import (
	"encoding/json"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
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
	id string // never logged: it is what a client needs to post into the session

	// changed (capacity 1) tells the stream's loop that calls were added or
	// removed.
	changed chan struct{}

	mu     sync.Mutex
	calls  []*call // pending, oldest first
	closed bool    // the stream ended: no call is added any more
}

// call is one pending tools/call of a session, with the Tracker that took
// it: the one whose slot it holds and that reports its end.
type call struct {
	*keepalive.Call // guarded by the session's mu
	t               *Tracker
}

// finish reports the end of c, which has just stopped being pending, and
// gives back its slot. It is called once for each call that was pending,
// with the session's mu held.
func (c *call) finish(outcome, cause string) {
	c.t.slots.Release()
	c.t.Observer.Finished(outcome, time.Since(c.Start))
	keepalive.LogFinished(c.t.log, []*keepalive.Call{c.Call}, outcome, cause, zap.String("transport", "legacy"))
}

// newSession returns an open session with no calls.
func newSession(id string) *session {
	return &session{id: id, changed: make(chan struct{}, 1)}
}

// signal wakes the stream's loop.
func (s *session) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// add makes c pending. A pending call with the same id is replaced: it ends
// as cancelled. It reports false, adding nothing, once the session's stream
// has closed.
func (s *session) add(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	for i, old := range s.calls {
		if mcpmsg.SameID(old.ID, c.ID) {
			s.calls = append(s.calls[:i], s.calls[i+1:]...)
			old.finish(keepalive.OutcomeCancelled, "replaced")
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
		if mcpmsg.SameID(c.ID, id) {
			s.removeAt(i, outcome, "")
			return true
		}
	}
	return false
}

// end ends c, if it is still pending.
func (s *session) end(c *call, outcome, cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.calls {
		if p == c {
			s.removeAt(i, outcome, cause)
			return
		}
	}
}

// close ends every pending call with the outcome and refuses new ones.
func (s *session) close(outcome, cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, c := range s.calls {
		c.finish(outcome, cause)
	}
	s.calls = nil
}

// removeAt removes the call at i; s.mu must be held.
func (s *session) removeAt(i int, outcome, cause string) {
	c := s.calls[i]
	s.calls = append(s.calls[:i], s.calls[i+1:]...)
	c.finish(outcome, cause)
	s.signal()
}

// upstreamProgress passes the upstream's own progress notification for a
// pending call's token through the call's progress state. It returns the
// notification to send instead when the values had to be shifted, and nil
// when the upstream's may pass unchanged (also when no pending call has the
// token).
func (s *session) upstreamProgress(pp *mcpmsg.ProgressParams) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.calls {
		if c.HasToken(pp.Token) {
			return c.FromUpstream(pp)
		}
	}
	return nil
}

// keepAlive ends the calls pending for maxDuration or longer, then returns
// what one keep-alive of the others is: a progress notification for each
// call with a token whose upstream sent no progress of its own since the
// last keep-alive, when progress is on. upstream tells whether some
// upstream did send progress since then (which kept the bytes flowing), and
// pending whether any call is still pending.
func (s *session) keepAlive(progressOn bool, maxDuration time.Duration) (notes [][]byte, upstream, pending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for i := 0; i < len(s.calls); {
		if s.calls[i].Expired(maxDuration, now) {
			s.removeAt(i, keepalive.OutcomeTimeout,
				"the call ran longer than max_duration "+maxDuration.String()+" and gets no more keep-alives")
			continue
		}
		i++
	}
	for _, c := range s.calls {
		note, up := c.Tick(progressOn, now)
		upstream = upstream || up
		if note != nil {
			notes = append(notes, note)
		}
	}
	return notes, upstream, len(s.calls) > 0
}
