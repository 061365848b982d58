package legacy

import (
	"bytes"
	"net/http"
	"sync"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// maxDetect is how many bytes of a stream's first event are held back while
// waiting to learn whether it is a legacy session's endpoint event. A longer
// first event marks a stream that is not one.
const maxDetect = 64 << 10

// Modes of a watched stream.
const (
	modeDetect = iota // an event stream whose first event has not come yet
	modePass          // not a legacy session's stream: bytes are copied
	modeLegacy        // a legacy session's stream: the pump writes
)

// serveStream passes a GET to next with a writer that watches the answer,
// and cleans up after it: the pump is stopped and the session's pending calls
// are ended before the request ends.
func (t *Tracker) serveStream(w http.ResponseWriter, r *http.Request, next keepalive.Next) error {
	rw := &relay{t: t, r: r, w: w, rc: http.NewResponseController(w)}
	// This close does something only when next panics.
	defer rw.close("the upstream handler panicked")
	err := next(rw, r)
	cause := "the upstream closed the stream"
	if err != nil {
		cause = "the upstream's stream failed"
	}
	rw.close(cause)
	rw.writeRest()
	return err
}

// relay is the http.ResponseWriter that next writes a GET's answer to. An
// answer that is not an event stream, or whose first event is not a legacy
// session's endpoint, is copied to the client as it comes (the bytes of a
// first event are held back only until the event is complete). A legacy
// session's stream is cut into segments between events, each handed to the
// session's pump, the only writer to the client from then on.
type relay struct {
	t  *Tracker
	r  *http.Request
	w  http.ResponseWriter
	rc *http.ResponseController

	// mu serializes next's calls, which may come from more than one
	// goroutine (reverse_proxy flushes from a timer).
	mu          sync.Mutex
	wroteHeader bool
	mode        int
	split       splitter
	dec         *sse.Decoder // decodes the segments, from the stream's start
	sess        *session
	pump        *pump
	closed      bool
}

// Header returns the client's header map, which next fills before
// WriteHeader.
func (rw *relay) Header() http.Header { return rw.w.Header() }

// WriteHeader passes the status on and chooses the mode: only a 200 event
// stream, unencoded and of unknown length, may be a legacy session's.
func (rw *relay) WriteHeader(code int) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.writeHeader(code)
}

// writeHeader is WriteHeader; rw.mu must be held.
func (rw *relay) writeHeader(code int) {
	if rw.wroteHeader || code < 200 {
		rw.w.WriteHeader(code)
		return
	}
	rw.wroteHeader = true
	h := rw.w.Header()
	rw.mode = modePass
	if code == http.StatusOK && mcpmsg.IsMediaType(h.Get("Content-Type"), "text/event-stream") &&
		h.Get("Content-Length") == "" && (h.Get("Content-Encoding") == "" || h.Get("Content-Encoding") == "identity") {
		rw.mode, rw.dec = modeDetect, sse.NewDecoder(0)
	}
	rw.w.WriteHeader(code)
}

// Write relays p according to the mode.
func (rw *relay) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if !rw.wroteHeader {
		rw.writeHeader(http.StatusOK)
	}
	switch rw.mode {
	case modeDetect:
		rw.split.push(p)
		if err := rw.detect(); err != nil {
			return 0, err
		}
	case modeLegacy:
		rw.split.push(p)
		if err := rw.relayLegacy(); err != nil {
			return 0, err
		}
	default:
		return rw.w.Write(p)
	}
	return len(p), nil
}

// detect passes on what comes before the first event and decides the mode
// once the first event is complete.
func (rw *relay) detect() error {
	for {
		seg, ok := rw.split.next()
		if !ok {
			break
		}
		ev := rw.decode(seg)
		if ev == nil {
			// A comment, or lines that dispatch nothing: no decision yet.
			if _, err := rw.w.Write(seg); err != nil {
				return err
			}
			continue
		}
		if ev.Name == "endpoint" {
			if ep, ok := parseEndpoint(ev.Data, rw.r); ok {
				return rw.startLegacy(ep, seg, ev)
			}
		}
		rw.mode = modePass
		if _, err := rw.w.Write(seg); err != nil {
			return err
		}
		break
	}
	if rw.mode == modePass || rw.split.pending() > maxDetect {
		rw.mode = modePass
		if rest := rw.split.rest(); len(rest) > 0 {
			_, err := rw.w.Write(rest)
			return err
		}
	}
	return nil
}

// startLegacy opens the session whose endpoint event is seg, starts its
// pump, relays the endpoint (rewritten if it must be) and then the rest.
func (rw *relay) startLegacy(ep endpoint, seg []byte, ev *sse.Event) error {
	rw.mode = modeLegacy
	rw.sess = newSession(ep.session)
	rw.t.reg.add(rw.sess)
	rw.pump = newPump(rw.w, rw.rc, rw.sess, rw.t)
	go rw.pump.run()
	rw.t.log.Debug("legacy session opened", zap.Bool("endpoint_rewritten", ep.rewritten))
	if ep.rewritten {
		var b bytes.Buffer
		_, _ = sse.WriteEvent(&b, sse.Event{ID: ev.ID, Name: "endpoint", Data: ep.data})
		seg = b.Bytes()
	}
	if err := rw.pump.send(seg, nil); err != nil {
		return err
	}
	return rw.relayLegacy()
}

// relayLegacy hands every complete segment to the pump.
func (rw *relay) relayLegacy() error {
	for {
		seg, ok := rw.split.next()
		if !ok {
			return nil
		}
		if err := rw.pump.send(seg, rw.decode(seg)); err != nil {
			return err
		}
	}
}

// decode returns the event that seg completes, or nil.
func (rw *relay) decode(seg []byte) *sse.Event {
	var ev *sse.Event
	rw.dec.Feed(seg, func(e sse.Event) { ev = &e })
	return ev
}

// Flush flushes the client stream, except on a legacy session's stream,
// where the pump flushes after each write.
func (rw *relay) Flush() { _ = rw.FlushError() }

// FlushError is Flush, with the error; http.ResponseController prefers it.
func (rw *relay) FlushError() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if !rw.wroteHeader {
		rw.writeHeader(http.StatusOK)
	}
	if rw.mode == modeLegacy || rw.closed {
		return nil
	}
	return rw.rc.Flush()
}

// Unwrap returns the client's writer, for http.ResponseController.
func (rw *relay) Unwrap() http.ResponseWriter { return rw.w }

// close stops the pump and ends the session; it may be called again. The
// session's pending calls end as client_gone when the client went away
// (its request was cancelled, or a write to it failed), and otherwise as
// upstream_error with upstreamCause.
func (rw *relay) close(upstreamCause string) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.closed {
		return
	}
	rw.closed = true
	if rw.pump != nil {
		rw.pump.stop()
	}
	if rw.sess == nil {
		return
	}
	rw.t.reg.remove(rw.sess)
	if rw.r.Context().Err() != nil || rw.pump.gone {
		rw.sess.close(keepalive.OutcomeClientGone, "")
	} else {
		rw.sess.close(keepalive.OutcomeUpstreamError, upstreamCause)
	}
	rw.t.log.Debug("legacy session closed")
}

// writeRest writes, once the pump has stopped, the bytes of an event the
// upstream left incomplete, so that the client gets every byte it sent.
func (rw *relay) writeRest() {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.mode == modePass || (rw.pump != nil && rw.pump.gone) {
		return
	}
	if rest := rw.split.rest(); len(rest) > 0 {
		_, _ = rw.w.Write(rest)
	}
}
