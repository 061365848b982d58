package hold

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// States of a call.
const (
	// stateGrace: the upstream has not answered in full and the grace
	// period runs; what it writes is captured.
	stateGrace = iota
	// statePassed: the upstream answered within the grace period; the
	// captured answer goes to the client as it came.
	statePassed
	// stateThrough: a large answer began within the grace period and goes
	// to the client as it comes.
	stateThrough
	// stateCommitted: the client got an event stream; what the upstream
	// writes becomes the events of the call's stream.
	stateCommitted
)

// call is one held tools/call (or a batch with one) from the moment it
// reaches the handler to its end. It is the http.ResponseWriter that the
// next handler writes the upstream's answer to: never the client's writer.
// Within the grace period it captures the answer; a timer commits the call
// when the period runs out, and from then on every write is turned into
// events of the call's stream at once, on the writer's own goroutine.
//
// The next handler runs on the client request's goroutine (inline), so a
// call answered within the grace period costs a timer and no goroutine;
// after the commit one goroutine, the reader, writes the stream to the
// client. A client that closes its connection to poll needs its request's
// goroutine back while the call runs on, so for it the next handler runs on
// a goroutine of its own and the request's goroutine is the reader.
type call struct {
	h      *Handler
	reqs   []*keepalive.Call
	start  time.Time
	pol    policy
	key    string // the Index's key of the first request: its client and id
	w      http.ResponseWriter
	r      *http.Request
	cancel context.CancelFunc // cancels the upstream request
	inline bool               // next runs on the request's goroutine
	task   *task              // the task the call is, if it is one

	header http.Header // the next handler's header map

	mu        sync.Mutex
	state     int
	indexed   bool          // in the handler's Index
	cancelled bool          // cancelled within the grace period
	settled   chan struct{} // not inline: closed when the request's goroutine has work to do
	isSettled bool
	grace     *time.Timer
	stopGone  func() bool // stops the watch on the client's context

	status   int         // the upstream's status, 0 until written
	snapshot http.Header // its headers, copied at WriteHeader
	buf      []byte      // body captured within the grace period
	total    int64       // body bytes written in all
	gone     bool        // stateThrough: the client is gone, the rest is discarded
	err      error       // what the next handler returned
	aborted  bool        // it panicked, as reverse_proxy does when a body breaks off

	// Set at the commit.
	st        *streams.Stream
	prod      producer
	committed time.Time
	ticks     int // keep-alives so far, for their schedule
	tick      *time.Timer
	deadline  *time.Timer
	detach    func()      // ends the count of the client as the stream's reader
	live      *liveWriter // inline: writes the stream to the client
	over      bool        // the call is over: timers stopped, slot given back
}

// hold runs a tools/call (or a batch with one, whose requests are reqs)
// against next. The held slot taken by the caller is given back when the call
// ends, which may be after hold returns.
func (h *Handler) hold(w http.ResponseWriter, r *http.Request, body []byte, reqs []*keepalive.Call, next keepalive.Next) error {
	pol := h.policyFor(revision(r.Header))
	c := &call{
		h: h, reqs: reqs, start: reqs[0].Start, pol: pol,
		key: indexKey(r.Header, mcpmsg.IDKey(reqs[0].ID)), w: w, r: r,
		inline: !pol.poll, header: make(http.Header),
	}
	c.prod.c = c
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c.cancel = cancel
	// The upstream answers uncompressed: its answer may become events.
	r.Header.Del("Accept-Encoding")
	up := r.WithContext(ctx)
	up.Body = io.NopCloser(bytes.NewReader(body))
	if !c.inline {
		c.settled = make(chan struct{})
		if h.Detach != nil {
			up = h.Detach(up)
		}
	}
	c.indexed = h.index.add(c.key, c)

	if h.cfg.Grace > 0 {
		c.mu.Lock()
		c.grace = time.AfterFunc(h.cfg.Grace, c.commit)
		if pol.cancelOnGone {
			// Closing the request cancels the call at once. Other clients
			// that leave are noticed when the grace period ends or the
			// upstream answers, whichever comes first.
			c.stopGone = context.AfterFunc(r.Context(), c.clientLeft)
		}
		c.mu.Unlock()
	} else {
		c.commit()
	}

	if c.inline {
		c.run(next, up)
	} else {
		h.calls.Add(1)
		go func() {
			defer h.calls.Done()
			c.run(next, up)
		}()
		<-c.settled
	}

	c.mu.Lock()
	state, live, detach := c.state, c.live, c.detach
	c.mu.Unlock()
	switch {
	case state == statePassed:
		return c.passThrough()
	case state == stateThrough:
		if c.aborted {
			panic(http.ErrAbortHandler)
		}
		return c.err
	case live != nil:
		live.close()
		detach()
	case detach != nil:
		c.commitHeaders()
		h.read(w, r, c.st, 0, pol, detach)
	}
	return nil
}

// run calls next with the upstream request, and ends the call when it
// returns (also by a panic, which reverse_proxy raises when the upstream
// breaks off mid-answer). An upstream event stream that the upstream closed
// for the client to poll (SEP-1699: an event id, then the end) is followed
// the way a client would: by GET with Last-Event-ID, on the same chain.
func (c *call) run(next keepalive.Next, up *http.Request) {
	defer func() {
		p := recover()
		c.mu.Lock()
		if p != nil {
			c.aborted = true
			if p != http.ErrAbortHandler || c.status == 0 {
				c.err = fmt.Errorf("%w: %v", keepalive.ErrUpstreamPanic, p)
			}
			if p != http.ErrAbortHandler {
				c.h.log.Error("upstream handler panicked", zap.Any("panic", p), zap.Stack("stack"))
			}
		}
		c.upstreamDone()
		c.mu.Unlock()
		c.cancel()
		c.kick()
	}()
	req := up
	for {
		err := next(c, req)
		c.mu.Lock()
		c.err = err
		get, delay, ok := c.prod.reconnect(up)
		c.mu.Unlock()
		if !ok {
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-up.Context().Done():
			t.Stop()
		}
		req = get
	}
}

// commit switches a call still in its grace period to an event stream: the
// grace timer's function, and the client context's (a client that leaves
// within the grace period does not wait for it to end). It creates the
// stream, turns what the upstream wrote so far into its events, starts the
// keep-alives, and lets a reader write the stream to the client.
func (c *call) commit() {
	c.mu.Lock()
	c.commitLocked()
	c.mu.Unlock()
	c.kick()
}

// commitLocked is commit; c.mu must be held.
func (c *call) commitLocked() {
	if c.state != stateGrace {
		return
	}
	c.state = stateCommitted
	c.stopGrace()
	h := c.h
	lim := h.limits
	lim.Mirror = h.Mirror
	c.st = h.store.Create(streams.OwnerOf(c.r.Header), mcpmsg.IDKey(c.reqs[0].ID), lim, c.cancel)
	c.unindex()
	h.calls.Add(1) // done when the call is over
	c.committed = time.Now()
	if c.status != 0 {
		c.prod.header(c.status, c.snapshot)
		c.prod.body(c.buf)
		c.buf = nil
	}
	if c.cancelled {
		c.st.Cancel()
	}
	c.keepAlive()
	c.tick = time.AfterFunc(h.cfg.Interval, c.onTick)
	c.deadline = time.AfterFunc(h.cfg.MaxDuration-time.Since(c.start), c.onDeadline)

	if err := c.r.Context().Err(); err != nil {
		if c.pol.cancelOnGone {
			c.st.Cancel()
		}
		c.settle()
		return
	}
	// The client is attached before the call can end, so that a call which
	// ends at once is not taken for one whose client left.
	c.detach = c.st.Attach(c.r.Context())
	if !c.inline {
		c.settle()
		return
	}
	c.live = &liveWriter{sw: h.newStreamWriter(c.w, c.st, 0, c.pol), headers: c.commitHeaders}
	if c.pol.cancelOnGone && c.stopGone == nil {
		c.stopGone = context.AfterFunc(c.r.Context(), c.clientLeft)
	}
}

// clientLeft is the function of the watch on a client whose leaving cancels
// the call (protocol 2026-07-28 on): within the grace period it commits the
// call, which cancels it; after, it cancels the stream.
func (c *call) clientLeft() {
	c.mu.Lock()
	st := c.st
	if c.state == stateGrace {
		c.commitLocked()
		st = nil
	}
	c.mu.Unlock()
	if st != nil && st.Cancel() {
		c.h.log.Info("held call cancelled: its client left", zap.String("stream", st.ID))
	}
}

// kick lets the live writer write what is new, outside c.mu.
func (c *call) kick() {
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	if live != nil {
		live.kick()
	}
}

// settle wakes the request's goroutine of a call that is not inline; c.mu
// must be held.
func (c *call) settle() {
	if c.settled != nil && !c.isSettled {
		c.isSettled = true
		close(c.settled)
	}
}

// stopGrace stops the grace timer and, unless the call is committed, the
// watch on the client; c.mu must be held.
func (c *call) stopGrace() {
	if c.grace != nil {
		c.grace.Stop()
	}
	if c.stopGone != nil && c.state != stateCommitted {
		c.stopGone()
	}
}

// unindex takes the call out of the handler's Index; c.mu must be held.
func (c *call) unindex() {
	if c.indexed {
		c.h.index.remove(c.key, c)
		c.indexed = false
	}
}

// cancelInGrace cancels a call that a notifications/cancelled names while it
// is still in its grace period, and reports whether it was.
func (c *call) cancelInGrace() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateGrace || c.cancelled {
		return false
	}
	c.cancelled = true
	c.cancel()
	return true
}

// upstreamDone ends the call once the next handler has returned; c.mu must
// be held.
func (c *call) upstreamDone() {
	if c.state == stateGrace && c.r.Context().Err() != nil {
		// The client left within the grace period, and the watch on its
		// context has not committed the call yet: the answer is kept for
		// it to resume, as for any call whose client left.
		c.commitLocked()
	}
	switch c.state {
	case stateGrace:
		c.state = statePassed
		c.stopGrace()
		c.unindex()
		c.h.held.Release()
		c.settle()
	case stateThrough:
		c.settle()
	case stateCommitted:
		c.prod.upstreamDone()
		c.end()
	}
}

// end finishes a committed call once it is over: it stops the timers, closes
// the stream (kept for resumption when the client's revision has ids), gives
// back the held slot, and logs and reports the outcome. c.mu must be held.
func (c *call) end() {
	if c.over {
		return
	}
	c.over = true
	c.tick.Stop()
	c.deadline.Stop()
	if c.stopGone != nil {
		c.stopGone()
	}
	// Whether a client heard the end is decided when the end was added: a
	// client that leaves once it has the response did not miss it.
	clients := c.prod.clients
	if c.prod.outcome == keepalive.OutcomeCancelled {
		clients = c.st.Readers()
	}
	ttl := time.Duration(0)
	if c.pol.ids {
		ttl = c.h.cfg.Resume
	}
	if c.task != nil {
		// A task has no client of its own: it is fetched by its id.
		clients = 1
		ttl = c.task.retention()
		c.task.ended(c)
	}
	c.st.Finish(ttl)
	c.h.held.Release()
	c.h.calls.Done()
	p := &c.prod
	outcome := p.outcome
	if clients == 0 && outcome != keepalive.OutcomeCancelled {
		outcome = keepalive.OutcomeClientGone
	}
	c.h.Observer.Finished(outcome, time.Since(c.start))
	keepalive.LogFinished(c.h.log, c.reqs, p.outcome, p.cause,
		zap.String("stream", c.st.ID),
		zap.Bool("client_gone", clients == 0),
		zap.Int64("upstream_bytes", c.total),
		zap.Int("upstream_status", c.status),
	)
}

// onTick is the keep-alive timer's function: one keep-alive, and the timer
// set for the next on the schedule of commit + k × interval, so that late
// ticks do not add up.
func (c *call) onTick() {
	c.mu.Lock()
	if c.over || c.prod.outcome != "" {
		c.mu.Unlock()
		return
	}
	c.keepAlive()
	c.ticks++
	next := c.committed.Add(time.Duration(c.ticks+1) * c.h.cfg.Interval)
	c.tick.Reset(max(time.Until(next), 0))
	c.mu.Unlock()
	c.kick()
}

// keepAlive adds the stream's keep-alives: invented progress for each
// request whose client asked for progress and whose upstream sent none since
// the last one; a comment when there is none of those and the upstream sent
// no progress either (which kept the bytes flowing). c.mu must be held.
func (c *call) keepAlive() {
	var progress [][]byte
	upstream := false
	now := time.Now()
	for _, r := range c.reqs {
		note, up := r.Tick(c.h.cfg.Progress, now)
		upstream = upstream || up
		if note != nil {
			progress = append(progress, note)
		}
	}
	switch {
	case len(progress) > 0:
		c.st.Progress(progress...)
	case !upstream:
		c.st.Comment([]byte("keepalive"))
	}
}

// onDeadline is the max_duration timer's function: the call gets an error
// and its upstream request is cancelled.
func (c *call) onDeadline() {
	c.mu.Lock()
	if c.prod.outcome != "" {
		c.mu.Unlock()
		return
	}
	c.prod.fail(keepalive.OutcomeTimeout, mcpmsg.CodeRequestTimeout,
		"the call ran longer than max_duration "+c.h.cfg.MaxDuration.String()+" and was cancelled")
	c.cancel()
	c.mu.Unlock()
	c.kick()
}

// passThrough writes an answer that came within the grace period to the client
// exactly as the upstream gave it, failing the way next failed. A call the
// client cancelled meanwhile gets an empty event stream.
func (c *call) passThrough() error {
	if c.cancelled {
		commitHeaders(c.w)
		return nil
	}
	status := c.status
	if status == 0 {
		if c.err != nil {
			return c.err
		}
		status = http.StatusOK
	}
	for k, v := range c.snapshot {
		c.w.Header()[k] = v
	}
	c.w.WriteHeader(status)
	_, _ = c.w.Write(c.buf)
	if c.aborted {
		_ = http.NewResponseController(c.w).Flush()
		panic(http.ErrAbortHandler)
	}
	if ce := c.h.log.Check(zap.DebugLevel, "tools/call answered within grace"); ce != nil {
		ce.Write(zap.String("tool", c.reqs[0].Tool),
			zap.ByteString("id", c.reqs[0].ID),
			zap.Duration("duration", time.Since(c.start)),
			zap.Int("status", status))
	}
	return c.err
}

// keptHeaders are the upstream's response headers that a held call's event
// stream carries when the upstream sent them within the grace period: a
// stateless server's session id, and the cookies a balancer pins a client
// with. The rest describe the upstream's own body, which the client does not
// get as it was.
var keptHeaders = []string{"Mcp-Session-Id", "Set-Cookie"}

// commitHeaders answers the client of a committed call with the headers of an
// event stream, and those of keptHeaders that the upstream sent before the
// commit.
func (c *call) commitHeaders() {
	c.mu.Lock()
	hdr := c.w.Header()
	for _, k := range keptHeaders {
		if v := c.snapshot.Values(k); len(v) > 0 {
			hdr[k] = append([]string(nil), v...)
		}
	}
	c.mu.Unlock()
	commitHeaders(c.w)
}

// commitHeaders answers the client with the headers of an event stream.
func commitHeaders(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Del("Content-Length")
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache, no-transform")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
}
