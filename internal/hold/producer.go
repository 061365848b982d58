package hold

import (
	"github.com/caddy-stata/caddy-stata/internal/keepalive"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/sse"
	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// upstream modes, known once the upstream's status and headers arrive.
const (
	modeUnknown = iota
	modeSSE
	modeJSON
)

// maxPrealloc is the largest JSON answer whose buffer is sized from its
// Content-Length in advance.
const maxPrealloc = 1 << 30

// request is one JSON-RPC request of a held call that awaits its response:
// the tools/call, or each request of a held batch.
type request struct {
	id       json.RawMessage
	token    json.RawMessage // nil without a progressToken
	tool     string          // for tools/call
	answered bool
	prog     mcpmsg.ProgressSeq
}

// requestsOf returns the requests among msgs.
func requestsOf(msgs []mcpmsg.Message) []*request {
	var reqs []*request
	for _, m := range msgs {
		if m.IsRequest() {
			reqs = append(reqs, &request{id: m.ID, token: m.ProgressToken, tool: m.Tool})
		}
	}
	return reqs
}

// producer runs one held call after the grace period: it takes what the
// upstream writes, turns it into the events of the call's stream, adds
// keep-alives, and ends the stream with exactly one response for each
// request (the upstream's, or an error), unless the client cancelled the
// call. It never writes to a client; readers do.
type producer struct {
	h      *Handler
	reqs   []*request
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
}

// run is the producer's loop. It returns when the call is over and the
// upstream request has ended.
func (p *producer) run() {
	defer p.h.calls.Done()
	p.cw.bound()
	p.consume(p.cw.take()) // what came within the grace period
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
			p.fail(keepalive.OutcomeTimeout, mcpmsg.CodeRequestTimeout,
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
	p.h.held.Release()
	outcome := p.outcome
	if clients == 0 && outcome != keepalive.OutcomeCancelled {
		outcome = keepalive.OutcomeClientGone
	}
	p.h.Observer.Finished(outcome, time.Since(p.start))
	p.h.log.Info("held call finished",
		zap.String("tool", p.tools()),
		zap.String("id", p.ids()),
		zap.String("stream", p.st.ID),
		zap.Duration("duration", time.Since(p.start)),
		zap.String("outcome", p.outcome),
		zap.String("cause", p.cause),
		zap.Bool("client_gone", clients == 0),
		zap.Int64("upstream_bytes", p.cw.written()),
		zap.Int("upstream_status", p.status),
	)
}

// tools names the held call's tools, for the log.
func (p *producer) tools() string {
	var names []string
	for _, r := range p.reqs {
		if r.tool != "" {
			names = append(names, r.tool)
		}
	}
	return strings.Join(names, ",")
}

// ids lists the held call's request ids, for the log.
func (p *producer) ids() string {
	ids := make([]string, len(p.reqs))
	for i, r := range p.reqs {
		ids[i] = string(r.id)
	}
	return strings.Join(ids, ",")
}

// tick adds the stream's keep-alives: invented progress for each request
// whose client asked for progress and whose upstream sent none since the
// last tick; a comment when there is none of those and the upstream sent no
// progress either (which kept the bytes flowing).
func (p *producer) tick() {
	var progress [][]byte
	upstream := false
	elapsed := time.Since(p.start).Round(time.Second)
	for _, r := range p.reqs {
		upstream = upstream || r.prog.Upstream
		if r.token != nil && !r.answered && p.h.cfg.Progress && !r.prog.Upstream {
			name := r.tool
			if name == "" {
				name = "request"
			}
			progress = append(progress, mcpmsg.Progress(r.token, r.prog.Invent(), nil,
				name+": running for "+elapsed.String()))
		}
		r.prog.Upstream = false
	}
	switch {
	case len(progress) > 0:
		p.st.Progress(progress...)
	case !upstream:
		p.st.Comment([]byte("keepalive"))
	}
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
			p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
				fmt.Sprintf("the upstream answered %d %s, with no response to this request", resp.status, http.StatusText(resp.status)))
			return
		case resp.status < 200 || resp.status > 299:
			p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
				fmt.Sprintf("the upstream answered %d %s", resp.status, http.StatusText(resp.status)))
			return
		case mcpmsg.IsMediaType(ct, "text/event-stream"):
			p.mode, p.dec = modeSSE, sse.NewDecoder(0)
		case mcpmsg.IsMediaType(ct, "application/json"):
			p.mode = modeJSON
			// Sized once when the length is known, rather than grown by
			// doubling: a large result then takes its own size, not twice.
			if n, err := strconv.ParseInt(resp.header.Get("Content-Length"), 10, 64); err == nil && n > 0 && n <= maxPrealloc {
				p.jsonBody = make([]byte, 0, n)
			}
		default:
			p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
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
// once every request has its response. Progress for a held request's token
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
	msgs, err := mcpmsg.ParseAny(data)
	if err == nil && len(msgs) == 1 && msgs[0].Method == mcpmsg.MethodProgress {
		if r := p.byToken(msgs[0].ProgressToken); r != nil {
			if pp, err := mcpmsg.ParseProgress(msgs[0].Params); err == nil {
				if r.prog.FromUpstream(&pp) {
					data = mcpmsg.Progress(pp.Token, pp.Progress, pp.Total, pp.Message)
				}
				p.st.Progress(data)
				return
			}
		}
	}
	p.answer(msgs)
	p.appendFinal(ev.Name, data)
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
		p.outcome = keepalive.OutcomeCancelled
	case res.aborted:
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream connection broke before the response was complete")
	case res.err != nil && p.status == 0:
		p.h.log.Debug("upstream failed", zap.String("id", p.ids()), zap.Error(res.err))
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream failed before answering: "+describe(res.err))
	case p.mode == modeJSON:
		body := bytes.TrimSpace(p.jsonBody)
		msgs, err := mcpmsg.ParseAny(body)
		if err != nil || !p.answer(msgs) {
			p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
				"the upstream answered with JSON that is not the response to this request")
			return
		}
		p.appendFinal("", body)
		if p.outcome == "" {
			p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
				"the upstream's answer had no response to this request")
		}
	case p.mode == modeSSE:
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream's event stream ended without the response")
	default:
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream ended without answering")
	}
}

// byToken returns the unanswered request whose progress token is token.
func (p *producer) byToken(token json.RawMessage) *request {
	for _, r := range p.reqs {
		if !r.answered && r.token != nil && mcpmsg.SameID(r.token, token) {
			return r
		}
	}
	return nil
}

// answer marks the requests that msgs respond to, and reports whether any
// was.
func (p *producer) answer(msgs []mcpmsg.Message) bool {
	matched := false
	for _, m := range msgs {
		if !m.IsResponse() {
			continue
		}
		for _, r := range p.reqs {
			if !r.answered && mcpmsg.SameID(r.id, m.ID) {
				r.answered, matched = true, true
				break
			}
		}
	}
	return matched
}

// pending reports whether a request still awaits its response.
func (p *producer) pending() bool {
	for _, r := range p.reqs {
		if !r.answered {
			return true
		}
	}
	return false
}

// appendFinal keeps an event for replay, as the final one if no request
// awaits a response any more, which ends the call.
func (p *producer) appendFinal(name string, data []byte) {
	final := !p.pending()
	seq := p.st.Append(name, data, final)
	switch {
	case seq == 0:
		p.outcome = keepalive.OutcomeCancelled
	case final:
		p.outcome = keepalive.OutcomeResponse
	}
}

// fail ends the call with a JSON-RPC error for each request without a
// response, unless the client cancelled the call.
func (p *producer) fail(outcome string, code int, message string) {
	if p.st.Cancelled() {
		p.outcome = keepalive.OutcomeCancelled
		return
	}
	p.outcome, p.cause = outcome, message
	for _, r := range p.reqs {
		if r.answered {
			continue
		}
		r.answered = true
		p.st.Append("", mcpmsg.ErrorResponse(r.id, code, "mcp_keepalive: "+message), !p.pending())
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
	// Some errors (Caddy's reverseproxy.DialError among them) do not unwrap
	// to their cause; their text still names it.
	text := err.Error()
	for _, cause := range []string{"connection refused", "connection reset", "no such host", "i/o timeout", "no upstreams available"} {
		if strings.Contains(text, cause) {
			return cause
		}
	}
	return "error"
}
