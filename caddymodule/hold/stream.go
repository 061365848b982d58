package hold

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/caddymodule/mcpmsg"
	"github.com/caddy-stata/caddy-stata/caddymodule/sse"
)

// Outcomes of a held call, as logged.
const (
	// OutcomeResponse: the upstream's response reached the client (or would
	// have, had the client stayed).
	OutcomeResponse = "response"
	// OutcomeUpstreamError: the upstream failed; the client got an error.
	OutcomeUpstreamError = "upstream_error"
	// OutcomeTimeout: the call ran past max_duration and was cancelled.
	OutcomeTimeout = "timeout"
)

// upstream modes, known once the upstream's status and headers arrive.
const (
	modeUnknown = iota
	modeSSE
	modeJSON
)

// upstreamResult is how the next handler ended. It is written by the upstream
// goroutine before it closes its done channel and read only after that.
type upstreamResult struct {
	err     error
	aborted bool // panicked, as reverse_proxy does when a body breaks off
}

// hold runs one tools/call against next on a context detached from the
// client's, then either passes a quick answer through or streams.
func (h *Handler) hold(w http.ResponseWriter, r *http.Request, body []byte, msg *mcpmsg.Message, next Next) error {
	start := time.Now()
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	up := r.Clone(ctx)
	up.Body = io.NopCloser(bytes.NewReader(body))
	up.Header.Del("Accept-Encoding")
	if h.Detach != nil {
		up = h.Detach(up)
	}

	cw := newCapture()
	done := make(chan struct{})
	var res upstreamResult
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				res.aborted = true
				if p != http.ErrAbortHandler {
					res.err = fmt.Errorf("panic: %v", p)
					h.log.Error("upstream handler panicked", zap.Any("panic", p), zap.Stack("stack"))
				}
			}
		}()
		res.err = next(cw, up)
	}()
	// No goroutine outlives the call: whatever way hold returns, the upstream
	// request is ended and waited for.
	defer func() {
		cw.close()
		cancel()
		<-done
	}()

	clientGone := r.Context().Done()
	s := &stream{h: h, w: w, rc: http.NewResponseController(w), msg: msg, start: start}
	if h.cfg.Grace > 0 {
		t := time.NewTimer(h.cfg.Grace)
		select {
		case <-done:
			t.Stop()
			return h.passThrough(w, cw, &res, msg, start)
		case <-t.C:
		case <-clientGone:
			t.Stop()
			s.gone, clientGone = true, nil
		}
	}
	if !s.gone {
		s.commit()
	}
	cw.bound()
	s.run(cw, done, &res, clientGone)

	cw.close()
	cancel()
	<-done
	h.log.Info("held call finished",
		zap.String("tool", msg.Tool),
		zap.ByteString("id", msg.ID),
		zap.Duration("duration", time.Since(start)),
		zap.String("outcome", s.outcome),
		zap.String("cause", s.cause),
		zap.Bool("client_gone", s.gone),
		zap.Int64("bytes_sent", s.sent),
		zap.Int64("upstream_bytes", cw.written()),
		zap.Int("upstream_status", s.status),
	)
	return nil
}

// passThrough writes an answer that came within the grace period to the client
// exactly as the upstream gave it, failing the way next failed.
func (h *Handler) passThrough(w http.ResponseWriter, cw *capture, res *upstreamResult, msg *mcpmsg.Message, start time.Time) error {
	resp := cw.take()
	if resp.status == 0 {
		if res.err != nil {
			return res.err
		}
		if res.aborted {
			panic(http.ErrAbortHandler)
		}
		resp.status = http.StatusOK
	}
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
	if res.aborted {
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	h.log.Debug("tools/call answered within grace",
		zap.String("tool", msg.Tool),
		zap.ByteString("id", msg.ID),
		zap.Duration("duration", time.Since(start)),
		zap.Int("status", resp.status))
	return res.err
}

// stream is the state of one held call after the grace period. Only the
// goroutine that runs it writes to the client.
type stream struct {
	h     *Handler
	w     http.ResponseWriter
	rc    *http.ResponseController
	msg   *mcpmsg.Message
	start time.Time

	committed bool   // the event stream's headers were sent
	gone      bool   // the client left, or a write to it failed
	sent      int64  // bytes written to the client
	outcome   string // set once the call is over
	cause     string // why it failed, when it did

	status   int // the upstream's status, once known
	mode     int
	dec      *sse.Decoder
	jsonBody []byte
	prog     progress
}

// commit answers the client with an event stream and sends a first keep-alive.
func (s *stream) commit() {
	hdr := s.w.Header()
	hdr.Del("Content-Length")
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache, no-transform")
	hdr.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	s.committed = true
	s.tick()
}

// run is the loop that owns the client stream until the call is over.
func (s *stream) run(cw *capture, done <-chan struct{}, res *upstreamResult, clientGone <-chan struct{}) {
	ticker := time.NewTicker(s.h.cfg.Interval)
	defer ticker.Stop()
	deadline := time.NewTimer(s.h.cfg.MaxDuration - time.Since(s.start))
	defer deadline.Stop()
	for s.outcome == "" {
		select {
		case <-cw.notify:
			s.consume(cw.take())
		case <-done:
			s.consume(cw.take())
			s.upstreamDone(res)
		case <-ticker.C:
			s.tick()
		case <-clientGone:
			s.gone, clientGone = true, nil
		case <-deadline.C:
			s.fail(OutcomeTimeout, mcpmsg.CodeRequestTimeout,
				"the call ran longer than max_duration "+s.h.cfg.MaxDuration.String()+" and was cancelled")
		}
	}
	// The end of the call and the client's going may have come together.
	select {
	case <-clientGone:
		s.gone = true
	default:
	}
}

// tick sends one keep-alive: invented progress when the client asked for
// progress and the upstream sent none since the last tick, else a comment.
func (s *stream) tick() {
	if s.msg.ProgressToken != nil && s.h.cfg.Progress && !s.prog.upstream {
		elapsed := time.Since(s.start).Round(time.Second)
		data := mcpmsg.Progress(s.msg.ProgressToken, s.prog.invent(), nil,
			s.msg.Tool+": running for "+elapsed.String())
		s.send(sse.Event{Data: string(data)})
	} else {
		s.comment("keepalive")
	}
	s.prog.upstream = false
}

// consume handles what the upstream wrote since the last call.
func (s *stream) consume(resp response) {
	if s.outcome != "" || resp.status == 0 {
		return
	}
	if s.mode == modeUnknown {
		s.status = resp.status
		ct := resp.header.Get("Content-Type")
		switch {
		case resp.status == http.StatusAccepted || resp.status == http.StatusNoContent:
			s.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
				fmt.Sprintf("the upstream answered %d %s, with no response to this request", resp.status, http.StatusText(resp.status)))
			return
		case resp.status < 200 || resp.status > 299:
			s.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
				fmt.Sprintf("the upstream answered %d %s", resp.status, http.StatusText(resp.status)))
			return
		case isEventStream(ct):
			s.mode, s.dec = modeSSE, sse.NewDecoder(0)
		case isJSON(ct):
			s.mode = modeJSON
		default:
			s.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
				fmt.Sprintf("the upstream answered with content type %q, not JSON-RPC", ct))
			return
		}
	}
	if s.mode == modeSSE {
		s.dec.Feed(resp.body, s.upstreamEvent)
	} else {
		s.jsonBody = append(s.jsonBody, resp.body...)
	}
}

// upstreamEvent relays one event of an upstream event stream, ending the call
// at the response to the held request.
func (s *stream) upstreamEvent(ev sse.Event) {
	if s.outcome != "" || ev.Data == "" {
		return
	}
	if ev.Name == "message" {
		ev.Name = ""
	}
	out := sse.Event{Name: ev.Name, Data: ev.Data}
	m, err := mcpmsg.Parse([]byte(ev.Data))
	switch {
	case err != nil:
	case m.IsResponse() && mcpmsg.SameID(m.ID, s.msg.ID):
		s.send(out)
		s.outcome = OutcomeResponse
		return
	case m.Method == mcpmsg.MethodProgress && mcpmsg.SameID(m.ProgressToken, s.msg.ProgressToken):
		pp, err := mcpmsg.ParseProgress(m.Params)
		if err != nil {
			break
		}
		if s.prog.fromUpstream(&pp) {
			out.Data = string(mcpmsg.Progress(pp.Token, pp.Progress, pp.Total, pp.Message))
		}
	}
	s.send(out)
}

// upstreamDone ends the call once the next handler has returned, if the
// upstream's response did not already end it.
func (s *stream) upstreamDone(res *upstreamResult) {
	if s.outcome != "" {
		return
	}
	switch {
	case res.aborted:
		s.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream connection broke before the response was complete")
	case res.err != nil && s.status == 0:
		s.h.log.Debug("upstream failed", zap.ByteString("id", s.msg.ID), zap.Error(res.err))
		s.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream failed before answering: "+describe(res.err))
	case s.mode == modeJSON:
		body := bytes.TrimSpace(s.jsonBody)
		m, err := mcpmsg.Parse(body)
		if err != nil || !m.IsResponse() || !mcpmsg.SameID(m.ID, s.msg.ID) {
			s.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
				"the upstream answered with JSON that is not the response to this request")
			return
		}
		s.send(sse.Event{Data: string(body)})
		s.outcome = OutcomeResponse
	case s.mode == modeSSE:
		s.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream's event stream ended without the response")
	default:
		s.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream ended without answering")
	}
}

// fail ends the call with a JSON-RPC error for the held request's id.
func (s *stream) fail(outcome string, code int, message string) {
	s.outcome, s.cause = outcome, message
	s.send(sse.Event{Data: string(mcpmsg.ErrorResponse(s.msg.ID, code, "mcp_keepalive: "+message))})
}

// send writes one event to the client and flushes it.
func (s *stream) send(ev sse.Event) {
	if s.gone || !s.committed {
		return
	}
	n, err := sse.WriteEvent(s.w, ev)
	s.sent += int64(n)
	s.flush(err)
}

// comment writes one comment line to the client and flushes it.
func (s *stream) comment(text string) {
	if s.gone || !s.committed {
		return
	}
	n, err := sse.WriteComment(s.w, text)
	s.sent += int64(n)
	s.flush(err)
}

// flush flushes the client stream after a write that returned err; a failure
// means the client is gone.
func (s *stream) flush(err error) {
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil {
		s.gone = true
		s.h.log.Debug("client stream write failed", zap.ByteString("id", s.msg.ID), zap.Error(err))
	}
}

// describe names the cause of an upstream failure without the addresses and
// internals an error string may carry.
func describe(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error"
}
