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
	"github.com/caddy-stata/caddy-stata/caddymodule/streams"
)

// Outcomes of a held call, as logged.
const (
	// OutcomeResponse: the upstream's response was relayed.
	OutcomeResponse = "response"
	// OutcomeUpstreamError: the upstream failed; the client got an error.
	OutcomeUpstreamError = "upstream_error"
	// OutcomeTimeout: the call ran past max_duration and was cancelled.
	OutcomeTimeout = "timeout"
	// OutcomeCancelled: the client cancelled the call.
	OutcomeCancelled = "cancelled"
)

// upstream modes, known once the upstream's status and headers arrive.
const (
	modeUnknown = iota
	modeSSE
	modeJSON
)

// producer runs one held call after the grace period: it takes what the
// upstream writes, turns it into the events of the call's stream, adds
// keep-alives, and ends the stream with exactly one response for the request
// (the upstream's, or an error), unless the client cancelled the call. It
// never writes to a client; readers do.
type producer struct {
	h      *Handler
	msg    *mcpmsg.Message
	start  time.Time
	st     *streams.Stream
	cw     *capture
	done   <-chan struct{}
	res    *upstreamResult
	cancel context.CancelFunc
	pol    policy

	outcome string // set once the call is over
	cause   string // why it failed, when it did

	status   int // the upstream's status, once known
	mode     int
	dec      *sse.Decoder
	jsonBody []byte
	prog     progress
}

// run is the producer's loop. It returns when the call is over and the
// upstream request has ended.
func (p *producer) run() {
	defer p.h.calls.Done()
	p.cw.bound()
	p.tick()
	ticker := time.NewTicker(p.h.cfg.Interval)
	defer ticker.Stop()
	deadline := time.NewTimer(p.h.cfg.MaxDuration - time.Since(p.start))
	defer deadline.Stop()
	for p.outcome == "" {
		select {
		case <-p.cw.notify:
			p.consume(p.cw.take())
		case <-p.done:
			p.consume(p.cw.take())
			p.upstreamDone()
		case <-ticker.C:
			p.tick()
		case <-deadline.C:
			p.fail(OutcomeTimeout, mcpmsg.CodeRequestTimeout,
				"the call ran longer than max_duration "+p.h.cfg.MaxDuration.String()+" and was cancelled")
		}
	}
	p.cw.close()
	p.cancel()
	<-p.done
	clients := p.st.Readers()
	ttl := time.Duration(0)
	if p.pol.ids {
		ttl = p.h.cfg.Resume
	}
	p.st.Finish(ttl)
	p.h.held.Add(-1)
	outcome := p.outcome
	if clients == 0 && outcome != OutcomeCancelled {
		outcome = OutcomeClientGone
	}
	p.h.Observer.Finished(outcome, time.Since(p.start))
	p.h.log.Info("held call finished",
		zap.String("tool", p.msg.Tool),
		zap.ByteString("id", p.msg.ID),
		zap.String("stream", p.st.ID),
		zap.Duration("duration", time.Since(p.start)),
		zap.String("outcome", p.outcome),
		zap.String("cause", p.cause),
		zap.Bool("client_gone", clients == 0),
		zap.Int64("upstream_bytes", p.cw.written()),
		zap.Int("upstream_status", p.status),
	)
}

// tick sets the stream's keep-alive: invented progress when the client asked
// for progress and the upstream sent none since the last tick, else a
// comment.
func (p *producer) tick() {
	if p.msg.ProgressToken != nil && p.h.cfg.Progress && !p.prog.upstream {
		elapsed := time.Since(p.start).Round(time.Second)
		data := mcpmsg.Progress(p.msg.ProgressToken, p.prog.invent(), nil,
			p.msg.Tool+": running for "+elapsed.String())
		p.st.KeepAlive(data, false)
	} else {
		p.st.KeepAlive([]byte("keepalive"), true)
	}
	p.prog.upstream = false
}

// consume handles what the upstream wrote since the last call.
func (p *producer) consume(resp response) {
	if p.outcome != "" || resp.status == 0 {
		return
	}
	if p.mode == modeUnknown {
		p.status = resp.status
		ct := resp.header.Get("Content-Type")
		switch {
		case resp.status == http.StatusAccepted || resp.status == http.StatusNoContent:
			p.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
				fmt.Sprintf("the upstream answered %d %s, with no response to this request", resp.status, http.StatusText(resp.status)))
			return
		case resp.status < 200 || resp.status > 299:
			p.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
				fmt.Sprintf("the upstream answered %d %s", resp.status, http.StatusText(resp.status)))
			return
		case isEventStream(ct):
			p.mode, p.dec = modeSSE, sse.NewDecoder(0)
		case isJSON(ct):
			p.mode = modeJSON
		default:
			p.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
				fmt.Sprintf("the upstream answered with content type %q, not JSON-RPC", ct))
			return
		}
	}
	if p.mode == modeSSE {
		p.dec.Feed(resp.body, p.upstreamEvent)
	} else {
		p.jsonBody = append(p.jsonBody, resp.body...)
	}
}

// upstreamEvent relays one event of an upstream event stream, ending the call
// at the response to the held request. Progress for the held request's token
// is a keep-alive, seen only by clients connected at the time; every other
// event is kept for replay.
func (p *producer) upstreamEvent(ev sse.Event) {
	if p.outcome != "" || ev.Data == "" {
		return
	}
	if ev.Name == "message" {
		ev.Name = ""
	}
	data := []byte(ev.Data)
	m, err := mcpmsg.Parse(data)
	switch {
	case err != nil:
	case m.IsResponse() && mcpmsg.SameID(m.ID, p.msg.ID):
		p.outcome = OutcomeResponse
		if p.st.Append(ev.Name, data, true) == 0 {
			p.outcome = OutcomeCancelled
		}
		return
	case m.Method == mcpmsg.MethodProgress && mcpmsg.SameID(m.ProgressToken, p.msg.ProgressToken):
		pp, err := mcpmsg.ParseProgress(m.Params)
		if err != nil {
			break
		}
		if p.prog.fromUpstream(&pp) {
			data = mcpmsg.Progress(pp.Token, pp.Progress, pp.Total, pp.Message)
		}
		p.st.KeepAlive(data, false)
		return
	}
	p.st.Append(ev.Name, data, false)
}

// upstreamDone ends the call once the next handler has returned, if nothing
// ended it before.
func (p *producer) upstreamDone() {
	if p.outcome != "" {
		return
	}
	res := p.res
	switch {
	case p.st.Cancelled():
		p.outcome = OutcomeCancelled
	case res.aborted:
		p.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream connection broke before the response was complete")
	case res.err != nil && p.status == 0:
		p.h.log.Debug("upstream failed", zap.ByteString("id", p.msg.ID), zap.Error(res.err))
		p.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream failed before answering: "+describe(res.err))
	case p.mode == modeJSON:
		body := bytes.TrimSpace(p.jsonBody)
		m, err := mcpmsg.Parse(body)
		if err != nil || !m.IsResponse() || !mcpmsg.SameID(m.ID, p.msg.ID) {
			p.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
				"the upstream answered with JSON that is not the response to this request")
			return
		}
		p.outcome = OutcomeResponse
		if p.st.Append("", body, true) == 0 {
			p.outcome = OutcomeCancelled
		}
	case p.mode == modeSSE:
		p.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream's event stream ended without the response")
	default:
		p.fail(OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream ended without answering")
	}
}

// fail ends the call with a JSON-RPC error for the held request's id, unless
// the client cancelled it.
func (p *producer) fail(outcome string, code int, message string) {
	if p.st.Cancelled() {
		p.outcome = OutcomeCancelled
		return
	}
	p.outcome, p.cause = outcome, message
	p.st.Append("", mcpmsg.ErrorResponse(p.msg.ID, code, "mcp_keepalive: "+message), true)
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
