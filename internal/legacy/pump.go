package legacy

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// errPumpStopped is returned for a segment handed to a pump that has stopped.
var errPumpStopped = errors.New("legacy stream already closed")

// keepAliveComment is the comment line sent when no progress is.
const keepAliveComment = ": keepalive\n\n"

// segment is a piece of the upstream's stream that ends where another event
// may follow: its exact bytes, and the event it completes, if any.
type segment struct {
	raw []byte
	ev  *sse.Event
}

// pump is the loop that owns a legacy session's client stream: the only
// goroutine that writes to it, between the request's start of the stream
// and its end. It relays the upstream's segments as the relay hands them
// over, ends pending calls whose responses pass, and while calls are pending
// sends a keep-alive every interval.
type pump struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	sess *session
	t    *Tracker // the config, observer and log

	segs chan segment  // from the relay, one at a time
	acks chan error    // to the relay, one per segment
	quit chan struct{} // closed by stop
	done chan struct{} // closed when run returns

	gone bool  // a write to the client failed
	err  error // that failure
}

// newPump returns a pump for the session's stream, opened by t; run starts
// it.
func newPump(w http.ResponseWriter, rc *http.ResponseController, s *session, t *Tracker) *pump {
	return &pump{
		w: w, rc: rc, sess: s, t: t,
		segs: make(chan segment),
		acks: make(chan error),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
}

// send hands a segment to the loop and waits until it is written; raw must
// stay unchanged until then. The error is the client's, once it is gone.
func (p *pump) send(raw []byte, ev *sse.Event) error {
	select {
	case p.segs <- segment{raw: raw, ev: ev}:
		return <-p.acks
	case <-p.done:
		return errPumpStopped
	}
}

// stop ends the loop and waits for it.
func (p *pump) stop() {
	close(p.quit)
	<-p.done
}

// run is the loop. The keep-alive ticker runs only while calls are pending,
// its first tick one interval after the first of them.
func (p *pump) run() {
	defer close(p.done)
	ticker := time.NewTicker(p.t.cfg.Interval)
	ticker.Stop()
	defer ticker.Stop()
	var tick <-chan time.Time
	for {
		select {
		case seg := <-p.segs:
			p.acks <- p.relay(seg)
		case <-p.sess.changed:
		case <-tick:
			p.keepAlive()
		case <-p.quit:
			return
		}
		switch pending := p.sess.pending() > 0; {
		case pending && tick == nil:
			ticker.Reset(p.t.cfg.Interval)
			tick = ticker.C
		case !pending && tick != nil:
			ticker.Stop()
			tick = nil
		}
	}
}

// relay writes one segment of the upstream's stream. A response to a pending
// call ends the call before it is written, so that no keep-alive for it can
// follow. The upstream's own progress for a pending call's token is passed
// through the call's progress state, and rewritten only if its values must be
// shifted to keep increasing.
func (p *pump) relay(seg segment) error {
	raw := seg.raw
	if seg.ev != nil && p.sess.pending() > 0 {
		if out := p.inspect(seg.ev); out != nil {
			raw = out
		}
	}
	return p.write(raw)
}

// inspect applies an upstream event to the pending calls. It returns the
// bytes to send instead of the event's, or nil to send the event unchanged.
func (p *pump) inspect(ev *sse.Event) []byte {
	data := bytes.TrimLeft([]byte(ev.Data), " \t\r\n")
	if len(data) == 0 || data[0] != '{' {
		return nil
	}
	m, err := mcpmsg.Parse(data)
	if err != nil {
		return nil
	}
	switch {
	case m.IsResponse():
		p.sess.endID(m.ID, keepalive.OutcomeResponse)
	case m.Method == mcpmsg.MethodProgress && m.ProgressToken != nil:
		pp, err := mcpmsg.ParseProgress(m.Params)
		if err != nil {
			return nil
		}
		if shifted := p.sess.upstreamProgress(&pp); shifted != nil {
			var b bytes.Buffer
			_, _ = sse.WriteEvent(&b, sse.Event{ID: ev.ID, Name: ev.Name, Data: string(shifted)})
			return b.Bytes()
		}
	}
	return nil
}

// keepAlive sends one keep-alive: a progress notification for each pending
// call that gets one, or else a comment line, unless the upstream's own
// progress kept the stream busy since the last one.
func (p *pump) keepAlive() {
	notes, upstream, pending := p.sess.keepAlive(p.t.cfg.Progress, p.t.cfg.MaxDuration)
	switch {
	case !pending:
	case len(notes) > 0:
		var b bytes.Buffer
		for _, n := range notes {
			_, _ = sse.WriteEvent(&b, sse.Event{Name: "message", Data: string(n)})
		}
		if p.write(b.Bytes()) == nil {
			for range notes {
				p.t.Observer.KeepAlive("progress")
			}
		}
	case !upstream:
		if p.write([]byte(keepAliveComment)) == nil {
			p.t.Observer.KeepAlive("comment")
		}
	}
}

// write writes b to the client and flushes it. Once a write has failed the
// client is gone, and nothing more is written.
func (p *pump) write(b []byte) error {
	if p.gone {
		return p.err
	}
	_, err := p.w.Write(b)
	if err == nil {
		err = p.rc.Flush()
	}
	if err != nil {
		p.gone, p.err = true, fmt.Errorf("writing to the client: %w", err)
		p.t.log.Debug("legacy stream write failed", zap.Error(err))
	}
	return p.err
}
