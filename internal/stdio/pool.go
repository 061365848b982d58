package stdio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Backoff between attempts to start a worker after failed ones.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
	// minHealthyLife is how long a worker must have run for its failure
	// to be replaced at once rather than after the backoff.
	minHealthyLife = 10 * time.Second
)

// errBusy is the error of a call refused because the queue is full.
var errBusy = errors.New("every worker is busy and the queue is full")

// Pool is a pool of workers that all run the same stdio MCP server, served
// over Streamable HTTP (see ServeHTTP). Create it with New; Close stops its
// processes.
type Pool struct {
	cfg Config
	log *zap.Logger

	mu         sync.Mutex
	workers    []*worker
	queue      []*call
	sessions   map[string]*session
	tokens     map[string]*call          // pool progress tokens of calls in flight
	serverReqs map[string]*serverRequest // worker-to-client requests, by the pool's id
	serial     uint64                    // the last pool token or id issued
	restarts   int64                     // failed workers replaced
	outcomes   map[string]int64          // client requests ended, by outcome
	initResult object                    // the first worker's initialize result
	initReady  chan struct{}             // closed once initResult is set
	lastErr    string                    // why the last worker failed, "" once one is ready
	lastErrAt  time.Time                 // when
	failStreak int                       // workers that failed in a row before being ready
	nextStart  time.Time                 // no worker starts before this (backoff)
	closed     bool
	done       chan struct{}  // closed by Close
	wg         sync.WaitGroup // the pool's goroutines
}

// New validates cfg and starts the pool's MinWorkers workers. It does not
// wait for them.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Pool{
		cfg:        cfg,
		log:        cfg.Logger,
		sessions:   map[string]*session{},
		tokens:     map[string]*call{},
		serverReqs: map[string]*serverRequest{},
		outcomes:   map[string]int64{},
		initReady:  make(chan struct{}),
		done:       make(chan struct{}),
	}
	p.mu.Lock()
	p.scaleLocked()
	p.mu.Unlock()
	p.wg.Add(1)
	go p.maintain()
	return p, nil
}

// Close stops the pool: every worker's stdin is closed and its group gets
// SIGTERM before Close returns; SIGKILL follows after the grace period in
// the background (Wait waits for it). Calls still waiting or running get a
// JSON-RPC error.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	var calls []*call
	calls = append(calls, p.queue...)
	var workers []*worker
	for _, w := range p.workers {
		for _, c := range w.calls {
			calls = append(calls, c)
		}
		if !w.stopping {
			w.stopping, w.cause = true, "the pool was closed"
		}
		if w.proc != nil {
			workers = append(workers, w)
		}
	}
	for _, c := range calls {
		p.finishLocked(c, errorResponse(c.clientID, codeInternalError, "mcp_stdio: the worker pool was closed (config unloaded or server stopping)"), "worker_failed")
	}
	p.mu.Unlock()
	for _, w := range workers {
		w.stop(p.cfg.KillGrace)
	}
}

// Wait waits until every process of a closed pool has been reaped.
func (p *Pool) Wait() { p.wg.Wait() }

// maintain stops idle workers above MinWorkers, starts workers up to
// MinWorkers after failures (with backoff) and forgets idle sessions.
func (p *Pool) maintain() {
	defer p.wg.Done()
	tick := min(time.Second, p.cfg.IdleTimeout/4)
	t := time.NewTicker(max(tick, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-t.C:
			p.mu.Lock()
			p.stopIdleLocked(now)
			p.scaleLocked()
			p.expireSessionsLocked(now)
			p.mu.Unlock()
		}
	}
}

// stopIdleLocked stops workers idle for IdleTimeout while more than
// MinWorkers are live.
func (p *Pool) stopIdleLocked(now time.Time) {
	live := p.liveLocked()
	for _, w := range p.workers {
		if live <= p.cfg.MinWorkers {
			return
		}
		if w.stopping || !w.ready || len(w.calls) > 0 || now.Sub(w.idleSince) < p.cfg.IdleTimeout {
			continue
		}
		w.stopping, w.cause = true, "idle"
		live--
		p.log.Info("stopping idle worker", zap.Int("pid", w.pid), zap.Duration("idle", now.Sub(w.idleSince)))
		w.stop(p.cfg.KillGrace)
	}
}

// liveLocked counts the workers starting or ready.
func (p *Pool) liveLocked() int {
	n := 0
	for _, w := range p.workers {
		if w.live() {
			n++
		}
	}
	return n
}

// scaleLocked starts workers while the pool is under MinWorkers, or the
// queue needs more than the workers starting will take, within MaxWorkers
// and the backoff after failures.
func (p *Pool) scaleLocked() {
	if p.closed || time.Now().Before(p.nextStart) {
		return
	}
	live, starting := 0, 0
	for _, w := range p.workers {
		if w.live() {
			live++
			if !w.ready {
				starting++
			}
		}
	}
	for live < p.cfg.MaxWorkers && (live < p.cfg.MinWorkers || len(p.queue) > starting*p.cfg.MaxInflight) {
		p.startWorkerLocked(0)
		live++
		starting++
		if p.failStreak > 0 {
			return // after a failure, one attempt at a time
		}
	}
}

// startWorkerLocked adds a worker and starts its process in the background.
func (p *Pool) startWorkerLocked(restarts int) {
	w := &worker{
		pool:     p,
		calls:    map[int64]*call{},
		internal: map[int64]chan object{},
		restarts: restarts,
		started:  time.Now(),
	}
	p.workers = append(p.workers, w)
	p.wg.Add(1)
	go p.run(w)
}

// run is the life of one worker: start, initialize, ping until it stops.
func (p *Pool) run(w *worker) {
	defer p.wg.Done()
	proc, err := startProcess(p.cfg)
	if err != nil {
		p.mu.Lock()
		w.stopping, w.failed, w.cause = true, true, err.Error()
		p.removeLocked(w)
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	w.proc, w.pid = proc, proc.pid
	closing := p.closed
	p.mu.Unlock()
	log := p.log.With(zap.Int("pid", proc.pid))
	if closing {
		w.stop(p.cfg.KillGrace)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		w.read()
	}()
	log.Info("worker started", zap.Strings("command", p.cfg.Command))

	if !closing {
		if err := p.initialize(w); err != nil {
			p.fail(w, err.Error())
		}
	}
	p.health(w, readDone)

	// The process has closed its stdout or been stopped: wait for it.
	select {
	case <-proc.done:
	case <-time.After(p.cfg.KillGrace):
		p.fail(w, "closed its stdout")
		<-proc.done
	}
	<-readDone
	status := proc.exitStatus()
	p.fail(w, "exited ("+status+")") // a no-op but for its calls if it was stopping already
	p.mu.Lock()
	cause := w.cause
	p.removeLocked(w)
	p.mu.Unlock()
	log.Info("worker exited", zap.String("status", status), zap.String("cause", cause))
}

// initialize runs the MCP handshake with a new worker.
func (p *Pool) initialize(w *worker) error {
	params := map[string]any{
		"protocolVersion": protocolVersion,
		"capabilities": map[string]any{
			"sampling":    map[string]any{},
			"elicitation": map[string]any{},
			"roots":       map[string]any{"listChanged": true},
		},
		"clientInfo": map[string]any{"name": "caddy-stata mcp_stdio", "version": "1.0.0"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.proc.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	res, err := w.ask(ctx, "initialize", params, max(p.cfg.HealthTimeout, minStartTimeout))
	if err != nil {
		// A worker that exits at once fails the write or the wait: say how
		// it exited, if it did.
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-w.proc.done:
			return fmt.Errorf("exited before answering initialize (%s)", w.proc.exitStatus())
		case <-t.C:
		}
		return fmt.Errorf("initialize: %w", err)
	}
	o, err := decodeObject(res)
	if err != nil {
		return fmt.Errorf("initialize: the result is not an object: %w", err)
	}
	if err := w.write(notification("notifications/initialized", nil)); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	w.ready, w.idleSince, w.health = true, time.Now(), time.Now()
	w.protocol = o.str("protocolVersion")
	p.failStreak, p.nextStart, p.lastErr = 0, time.Time{}, ""
	if p.initResult == nil {
		p.initResult = o
		close(p.initReady)
	}
	p.log.Info("worker ready", zap.Int("pid", w.pid), zap.String("protocol", w.protocol))
	p.drainLocked()
	return nil
}

// health pings the worker every HealthInterval until its stdout closes or
// the pool stops it; a ping not answered within HealthTimeout fails it.
func (p *Pool) health(w *worker, readDone <-chan struct{}) {
	t := time.NewTicker(p.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-readDone:
			return
		case <-w.proc.done:
			return
		case <-t.C:
		}
		p.mu.Lock()
		skip := w.stopping || !w.ready
		p.mu.Unlock()
		if skip {
			continue
		}
		_, err := w.ask(context.Background(), "ping", nil, p.cfg.HealthTimeout)
		p.mu.Lock()
		if err != nil {
			w.healthErr = err.Error()
		} else {
			w.health, w.healthErr = time.Now(), ""
		}
		p.mu.Unlock()
		if err != nil {
			p.fail(w, fmt.Sprintf("did not answer a ping within %v", p.cfg.HealthTimeout))
		}
	}
}

// fail takes a worker out of service for cause: its calls get a JSON-RPC
// error naming it, its process is stopped, and a replacement is started
// when the pool needs one.
func (p *Pool) fail(w *worker, cause string) {
	p.mu.Lock()
	first := !w.stopping
	if first {
		w.stopping, w.failed, w.cause = true, true, cause
	}
	cause = w.cause
	var calls []*call
	for _, c := range w.calls {
		calls = append(calls, c)
	}
	msg := fmt.Sprintf("mcp_stdio: worker pid %d %s", w.pid, cause)
	for _, c := range calls {
		p.finishLocked(c, errorResponse(c.clientID, codeInternalError, msg+" while running this request"), "worker_failed")
	}
	for id, r := range p.serverReqs {
		if r.w == w {
			delete(p.serverReqs, id)
		}
	}
	if first && w.failed && !p.closed {
		p.noteFailureLocked(w, cause)
	}
	p.mu.Unlock()
	if first && w.proc != nil {
		w.stop(p.cfg.KillGrace)
	}
}

// noteFailureLocked records a failed worker, counts the restart and starts
// its replacement, or schedules one after a backoff when it never got
// ready or failed within minHealthyLife (a crash loop).
func (p *Pool) noteFailureLocked(w *worker, cause string) {
	p.log.Warn("worker failed", zap.Int("pid", w.pid), zap.String("cause", cause), zap.Int("calls_failed", len(w.calls)))
	p.lastErr, p.lastErrAt = fmt.Sprintf("worker pid %d %s", w.pid, cause), time.Now()
	if w.pid == 0 {
		p.lastErr = "worker " + cause
	}
	p.restarts++
	if p.cfg.Observer != nil {
		p.cfg.Observer.Restarted()
	}
	if !w.ready || time.Since(w.started) < minHealthyLife {
		p.failStreak++
		backoff := minBackoff << min(p.failStreak-1, 10)
		p.nextStart = time.Now().Add(min(backoff, maxBackoff))
		if p.noReadyLocked() {
			// Nobody can serve what waits: tell the callers now.
			for _, c := range append([]*call(nil), p.queue...) {
				p.finishLocked(c, errorResponse(c.clientID, codeInternalError, "mcp_stdio: no worker is running: "+p.lastErr), "worker_failed")
			}
		}
		return
	}
	if p.liveLocked() < max(p.cfg.MinWorkers, 1) || len(p.queue) > 0 {
		p.startWorkerLocked(w.restarts + 1)
	}
}

// noReadyLocked reports whether no worker is ready.
func (p *Pool) noReadyLocked() bool {
	for _, w := range p.workers {
		if w.ready && !w.stopping {
			return false
		}
	}
	return true
}

// removeLocked forgets a worker whose process is gone.
func (p *Pool) removeLocked(w *worker) {
	for i, x := range p.workers {
		if x == w {
			p.workers = append(p.workers[:i], p.workers[i+1:]...)
			break
		}
	}
	if w.proc == nil && w.failed && !p.closed {
		// The program did not even start.
		w.pid = 0
		p.noteFailureLocked(w, w.cause)
	}
}

// submit places a call on the least-loaded ready worker with room, or
// queues it. It fails with errBusy when the queue is full; when no worker
// can run at all, the call is answered with an error at once.
func (p *Pool) submit(c *call) error {
	p.mu.Lock()
	if p.closed {
		p.finishLocked(c, errorResponse(c.clientID, codeInternalError, "mcp_stdio: the worker pool was closed"), "worker_failed")
		p.mu.Unlock()
		return nil
	}
	c.sess.calls[c.key] = c
	if w := p.pickLocked(c.sess); w != nil {
		msg := p.assignLocked(c, w)
		p.mu.Unlock()
		p.send(w, c, msg)
		return nil
	}
	if p.lastErr != "" && p.noReadyLocked() {
		p.finishLocked(c, errorResponse(c.clientID, codeInternalError, "mcp_stdio: no worker is running: "+p.lastErr), "worker_failed")
		p.mu.Unlock()
		return nil
	}
	if len(p.queue) >= p.cfg.MaxQueue {
		delete(c.sess.calls, c.key)
		p.countLocked("rejected")
		p.mu.Unlock()
		return errBusy
	}
	p.queue = append(p.queue, c)
	p.scaleLocked()
	p.mu.Unlock()
	return nil
}

// pickLocked returns the least-loaded ready worker with room for one more
// call of session s, counting a worker that runs a call of another session
// able to answer the same requests to a client (sampling, elicitation) as
// full: such a call goes to a worker shared with one only when no other
// worker has room. This keeps a worker's requests to a client unambiguous
// where the pool can, since stdio carries no link from such a request to
// the call that caused it. It returns nil when no worker has room.
func (p *Pool) pickLocked(s *session) *worker {
	var best *worker
	bestScore := 0
	for _, w := range p.workers {
		if !w.ready || w.stopping || len(w.calls) >= p.cfg.MaxInflight {
			continue
		}
		score := len(w.calls)
		for _, c := range w.calls {
			if c.sess != s && c.sess.sharesRequests(s) {
				score += p.cfg.MaxInflight
				break
			}
		}
		if best == nil || score < bestScore {
			best, bestScore = w, score
		}
	}
	return best
}

// assignLocked puts c on w under a fresh worker-side id and returns the
// message to send.
func (p *Pool) assignLocked(c *call, w *worker) []byte {
	w.nextID++
	c.w, c.wid = w, w.nextID
	w.calls[c.wid] = c
	o := c.msg.withID(intID(c.wid))
	if c.token != nil {
		p.serial++
		c.poolToken = fmt.Sprintf("stdio-%d", p.serial)
		p.tokens[c.poolToken] = c
		if params, err := setMember(o["params"], strID(c.poolToken), "_meta", "progressToken"); err == nil {
			o["params"] = params
		}
	}
	return o.encode()
}

// send writes a call's request to its worker; a write that fails fails the
// worker.
func (p *Pool) send(w *worker, c *call, msg []byte) {
	if err := w.write(msg); err != nil {
		p.fail(w, "stopped reading its stdin")
	}
}

// drainLocked places queued calls on workers with room. The writes happen
// in the background, in queue order per worker.
func (p *Pool) drainLocked() {
	type placed struct {
		w   *worker
		c   *call
		msg []byte
	}
	var out []placed
	for len(p.queue) > 0 {
		c := p.queue[0]
		w := p.pickLocked(c.sess)
		if w == nil {
			break
		}
		p.queue = p.queue[1:]
		out = append(out, placed{w, c, p.assignLocked(c, w)})
	}
	if len(out) == 0 {
		return
	}
	go func() {
		for _, pl := range out {
			p.send(pl.w, pl.c, pl.msg)
		}
	}()
}

// finishLocked ends a call with msg, its last message to the client (nil
// for none), and counts its outcome. It reports false if the call had
// ended already.
func (p *Pool) finishLocked(c *call, msg []byte, outcome string) bool {
	if c.done {
		return false
	}
	c.done = true
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.w != nil {
		delete(c.w.calls, c.wid)
		if len(c.w.calls) == 0 {
			c.w.idleSince = time.Now()
		}
		if outcome == "ok" || outcome == "error" {
			c.w.served++
		}
	}
	if c.poolToken != "" {
		delete(p.tokens, c.poolToken)
	}
	if c.sess.calls[c.key] == c {
		delete(c.sess.calls, c.key)
	}
	for i, q := range p.queue {
		if q == c {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			break
		}
	}
	for id, r := range p.serverReqs {
		if r.call == c {
			delete(p.serverReqs, id)
		}
	}
	p.countLocked(outcome)
	c.out.push(msg, true)
	if c.w != nil && !c.w.stopping {
		p.drainLocked()
	}
	return true
}

// countLocked counts a client request's outcome.
func (p *Pool) countLocked(outcome string) {
	p.outcomes[outcome]++
	if p.cfg.Observer != nil {
		p.cfg.Observer.CallDone(outcome)
	}
}

// expire ends a call that reached RequestTimeout; the worker running it is
// told to cancel it.
func (p *Pool) expire(c *call) {
	p.mu.Lock()
	w, wid := c.w, c.wid
	ok := p.finishLocked(c, errorResponse(c.clientID, codeRequestTimeout,
		fmt.Sprintf("mcp_stdio: the request timed out after %v (request_timeout)", p.cfg.RequestTimeout)), "timeout")
	p.mu.Unlock()
	if ok && w != nil {
		_ = w.write(notification("notifications/cancelled", map[string]any{"requestId": wid, "reason": "request_timeout reached"}))
	}
}

// cancel ends the session's call whose client id is key, as its client
// asked; the worker running it is told.
func (p *Pool) cancel(s *session, key string, reason json.RawMessage) {
	p.mu.Lock()
	c := s.calls[key]
	if c == nil {
		p.mu.Unlock()
		return
	}
	w, wid := c.w, c.wid
	p.finishLocked(c, errorResponse(c.clientID, codeInternalError, "mcp_stdio: cancelled by the client"), "cancelled")
	p.mu.Unlock()
	if w != nil {
		params := map[string]any{"requestId": wid}
		if len(reason) > 0 {
			params["reason"] = reason
		}
		_ = w.write(notification("notifications/cancelled", params))
	}
}

// fromWorker routes one message a worker wrote.
func (p *Pool) fromWorker(w *worker, o object) {
	method := o.str("method")
	_, hasID := o["id"]
	switch {
	case method == "" && hasID:
		p.response(w, o)
	case method != "" && hasID:
		p.serverRequest(w, o, method)
	case method == "notifications/progress":
		p.progress(o)
	case method != "":
		p.broadcast(o.encode())
	}
}

// response routes a worker's response to the pool's own request or to the
// client call it answers.
func (p *Pool) response(w *worker, o object) {
	var id int64
	if err := json.Unmarshal(o["id"], &id); err != nil {
		p.log.Warn("worker answered an id the pool never sent", zap.Int("pid", w.pid), zap.ByteString("id", o["id"]))
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch, ok := w.internal[id]; ok {
		ch <- o
		return
	}
	c, ok := w.calls[id]
	if !ok {
		return // a call that was cancelled or timed out
	}
	outcome := "ok"
	if _, isErr := o["error"]; isErr {
		outcome = "error"
	}
	p.finishLocked(c, o.withID(c.clientID).encode(), outcome)
}

// progress routes a worker's progress notification to the call whose token
// it names, with the client's own token.
func (p *Pool) progress(o object) {
	params := o["params"]
	var tok string
	if err := json.Unmarshal(member(params, "progressToken"), &tok); err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.tokens[tok]
	if !ok || c.done {
		return
	}
	params, err := setMember(params, c.token, "progressToken")
	if err != nil {
		return
	}
	o2 := object{"jsonrpc": o["jsonrpc"], "method": o["method"], "params": params}
	c.out.push(o2.encode(), false)
}
