package stdio

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// sessionIdleTimeout is how long a session with no call running may go
// without a request before the pool forgets it.
const sessionIdleTimeout = time.Hour

// A session is one client's MCP session with the pool. Its fields are
// guarded by Pool.mu.
type session struct {
	id       string
	protocol string          // the revision negotiated with the client
	caps     map[string]bool // the client's capabilities (sampling, ...)
	calls    map[string]*call
	stream   *outbox // the GET stream, nil when none is open
	lastSeen time.Time
}

// A serverRequest is a request a worker sent to a client, by the pool's id.
type serverRequest struct {
	w    *worker
	wid  json.RawMessage // the worker's own id
	sess *session
	call *call // the call whose stream carried it; it is forgotten when that call ends
}

// capabilityOf names the client capability a worker-to-client method needs.
var capabilityOf = map[string]string{
	"sampling/createMessage": "sampling",
	"elicitation/create":     "elicitation",
	"roots/list":             "roots",
}

// sharesRequests reports whether s and o both declared sampling, or both
// elicitation: requests a worker may send during a call, which the pool
// could not tell apart if both sessions had calls on that worker.
func (s *session) sharesRequests(o *session) bool {
	return (s.caps["sampling"] && o.caps["sampling"]) || (s.caps["elicitation"] && o.caps["elicitation"])
}

// newSession starts a session for a client that sent initialize with
// params.
func (p *Pool) newSession(protocol string, params json.RawMessage) *session {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := &session{id: hex.EncodeToString(b[:]), protocol: protocol, caps: map[string]bool{}, calls: map[string]*call{}, lastSeen: time.Now()}
	var caps map[string]json.RawMessage
	_ = json.Unmarshal(member(params, "capabilities"), &caps)
	for name := range caps {
		s.caps[name] = true
	}
	p.mu.Lock()
	p.sessions[s.id] = s
	p.mu.Unlock()
	return s
}

// session returns the session with id, or nil, and marks it seen.
func (p *Pool) session(id string) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions[id]
	if s != nil {
		s.lastSeen = time.Now()
	}
	return s
}

// endSession forgets a session (DELETE); its calls are cancelled.
func (p *Pool) endSession(s *session) {
	p.mu.Lock()
	delete(p.sessions, s.id)
	var keys []string
	for k := range s.calls {
		keys = append(keys, k)
	}
	if s.stream != nil {
		s.stream.push(nil, true)
		s.stream = nil
	}
	p.mu.Unlock()
	for _, k := range keys {
		p.cancel(s, k, json.RawMessage(`"session ended"`))
	}
}

// expireSessionsLocked forgets sessions idle for sessionIdleTimeout.
func (p *Pool) expireSessionsLocked(now time.Time) {
	for id, s := range p.sessions {
		if len(s.calls) == 0 && s.stream == nil && now.Sub(s.lastSeen) > sessionIdleTimeout {
			delete(p.sessions, id)
		}
	}
}

// serverRequest routes a worker's request to a client, on the stream of a
// call running on that worker whose client declared the capability the
// method needs: the oldest such call with no request of the worker pending,
// else the oldest. (A tool usually asks its client at once, so when calls
// of several sessions share the worker, requests are matched to calls in
// the order the calls came.) With no such call, the worker gets an error at
// once; a ping is answered by the pool.
func (p *Pool) serverRequest(w *worker, o object, method string) {
	if method == "ping" {
		_ = w.write(resultResponse(o["id"], struct{}{}))
		return
	}
	need := capabilityOf[method]
	p.mu.Lock()
	pending := map[*call]bool{}
	for _, r := range p.serverReqs {
		if r.w == w {
			pending[r.call] = true
		}
	}
	var target *call
	better := func(c *call) bool {
		if target == nil {
			return true
		}
		if pending[c] != pending[target] {
			return !pending[c]
		}
		return c.started.Before(target.started)
	}
	for _, c := range w.calls {
		if need != "" && !c.sess.caps[need] {
			continue
		}
		if better(c) {
			target = c
		}
	}
	if target == nil {
		p.mu.Unlock()
		p.log.Debug("no client can answer a worker's request", zap.Int("pid", w.pid), zap.String("method", method))
		_ = w.write(errorResponse(o["id"], codeMethodNotFound,
			fmt.Sprintf("mcp_stdio: no client with a call running on this worker can answer %s", method)))
		return
	}
	p.serial++
	id := fmt.Sprintf("stdio-req-%d", p.serial)
	p.serverReqs[id] = &serverRequest{w: w, wid: o["id"], sess: target.sess, call: target}
	target.out.push(o.withID(strID(id)).encode(), false)
	p.mu.Unlock()
}

// answer sends a client's response to a worker's request back to that
// worker, under the worker's own id. It reports false when the id is not
// one the pool gave this session.
func (p *Pool) answer(s *session, o object) bool {
	var id string
	if json.Unmarshal(o["id"], &id) != nil {
		return false
	}
	p.mu.Lock()
	r, ok := p.serverReqs[id]
	if !ok || r.sess != s {
		p.mu.Unlock()
		return false
	}
	delete(p.serverReqs, id)
	p.mu.Unlock()
	if err := r.w.write(o.withID(r.wid).encode()); err != nil {
		p.log.Debug("answering a worker's request", zap.Error(err))
	}
	return true
}

// broadcast sends a worker's notification that belongs to no call to every
// session with a GET stream open.
func (p *Pool) broadcast(msg []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sessions {
		if s.stream != nil {
			s.stream.push(msg, false)
		}
	}
}

// openStream opens a session's GET stream; it fails if one is open.
func (p *Pool) openStream(s *session) (*outbox, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.stream != nil {
		return nil, false
	}
	s.stream = newOutbox()
	return s.stream, true
}

// closeStream closes a session's GET stream.
func (p *Pool) closeStream(s *session, o *outbox) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.stream == o {
		s.stream = nil
	}
}
