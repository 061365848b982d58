package hold

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
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

// splitAt is the size past which an upstream message is not assembled in
// memory: its bytes go to the stream (and so to its spill file) as they come,
// and it is classified on the way by an mcpmsg.Scanner.
const splitAt = 64 << 10

// producer turns what the upstream writes after the commit into the events of
// the call's stream, and ends the stream with exactly one response for each
// request (the upstream's, or an error), unless the client cancelled the
// call. It never writes to a client; readers do. Its methods run with the
// call's mu held.
type producer struct {
	c *call

	outcome string // set once the call is over
	cause   string // why it failed, when it did
	clients int    // clients connected just before the call's end was added

	mode int
	dec  *sse.Decoder

	// The message being received in pieces: an upstream event past
	// splitAt, or the JSON body.
	big     *streams.EventWriter
	scan    *mcpmsg.Scanner
	head    []byte // the JSON body's first bytes, for a batch's array
	space   []byte // JSON: trailing white space held back
	started bool   // JSON: the first byte that is not white space came
	bigErr  error  // a write to the stream failed

	// Following an upstream stream that was closed for polling.
	upID       string        // the upstream's last event id
	retry      time.Duration // its last retry, or 0
	resuming   bool          // the next upstream answer is a resumption's
	events     int           // upstream events relayed so far
	seenEvents int           // events at the last reconnection
	reconnects int           // reconnections in a row that brought no event
}

// errNoBody stands for the classification of a JSON answer without a body.
var errNoBody = errors.New("no body")

// maxReconnects is how many reconnections in a row to an upstream event
// stream may bring nothing new before the call fails.
const maxReconnects = 10

// defaultRetry is the delay before following an upstream stream that sent
// no retry of its own, as the TypeScript SDK's client waits.
const defaultRetry = time.Second

// header takes the upstream's status and headers.
func (p *producer) header(status int, hdr http.Header) {
	ct := hdr.Get("Content-Type")
	if p.resuming && p.outcome == "" {
		p.resuming = false
		if status != http.StatusOK || !mcpmsg.IsMediaType(ct, "text/event-stream") {
			p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
				fmt.Sprintf("the upstream closed its event stream without the response, and resuming it by GET was answered %d %s", status, http.StatusText(status)))
		}
		return
	}
	if p.outcome != "" || p.mode != modeUnknown {
		return
	}
	switch {
	case status == http.StatusAccepted || status == http.StatusNoContent:
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			fmt.Sprintf("the upstream answered %d %s, with no response to this request", status, http.StatusText(status)))
	case status < 200 || status > 299:
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			fmt.Sprintf("the upstream answered %d %s", status, http.StatusText(status)))
	case mcpmsg.IsMediaType(ct, "text/event-stream"):
		p.mode, p.dec = modeSSE, sse.NewDecoder(0)
		p.dec.Split(splitAt, p.part)
	case mcpmsg.IsMediaType(ct, "application/json"):
		p.mode = modeJSON
	default:
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			fmt.Sprintf("the upstream answered with content type %q, not JSON-RPC", ct))
	}
}

// body takes body bytes the upstream wrote.
func (p *producer) body(b []byte) {
	if p.outcome != "" || len(b) == 0 {
		return
	}
	switch p.mode {
	case modeSSE:
		p.dec.Feed(b, p.upstreamEvent)
		if id := p.dec.LastEventID(); id != "" {
			p.upID = id
		}
		if ms, ok := p.dec.Retry(); ok {
			p.retry = time.Duration(ms) * time.Millisecond
		}
	case modeJSON:
		p.jsonBody(b)
	}
}

// part takes a piece of an upstream event's data past splitAt.
func (p *producer) part(b []byte) {
	if p.outcome != "" {
		return
	}
	if p.big == nil {
		p.big = p.c.st.Begin()
		p.scan = new(mcpmsg.Scanner)
	}
	p.write(b)
}

// write sends b to the message being received in pieces.
func (p *producer) write(b []byte) {
	_, _ = p.scan.Write(b)
	if p.bigErr == nil {
		_, p.bigErr = p.big.Write(b)
	}
}

// jsonBody takes bytes of a JSON answer: they go to the stream as they come,
// without the white space around the message, which would become empty data
// lines.
func (p *producer) jsonBody(b []byte) {
	if !p.started {
		b = bytes.TrimLeft(b, " \t\r\n")
		if len(b) == 0 {
			return
		}
		p.started = true
		p.big = p.c.st.Begin()
		p.scan = new(mcpmsg.Scanner)
	}
	if len(p.head) < splitAt {
		p.head = append(p.head, b[:min(len(b), splitAt-len(p.head))]...)
	}
	body := bytes.TrimRight(b, " \t\r\n")
	if len(body) == 0 {
		p.space = append(p.space, b...)
		return
	}
	if len(p.space) > 0 {
		p.write(p.space)
		p.space = p.space[:0]
	}
	p.write(body)
	p.space = append(p.space, b[len(body):]...)
}

// upstreamEvent relays one event of an upstream event stream, ending the call
// once every request has its response. Every event the upstream sends is one
// of the stream's own, kept for replay and in order, progress for a held
// request's token included: that progress only passes through the request's
// progress state first, so that the values the client sees keep increasing,
// and stops the keep-alives from inventing any while it comes.
func (p *producer) upstreamEvent(ev sse.Event) {
	if p.outcome != "" {
		return
	}
	if ev.Name == "message" {
		ev.Name = ""
	}
	if ev.Parted {
		p.events++
		big := p.big
		p.big = nil
		msg, err := p.scan.Message()
		if err == nil {
			p.answer([]mcpmsg.Message{msg})
		}
		p.commitBig(big, ev.Name)
		return
	}
	if ev.Data == "" {
		return
	}
	p.events++
	data := []byte(ev.Data)
	msgs, err := mcpmsg.ParseAny(data)
	if err == nil && len(msgs) == 1 && msgs[0].Method == mcpmsg.MethodProgress {
		if r := p.byToken(msgs[0].ProgressToken); r != nil {
			if pp, err := mcpmsg.ParseProgress(msgs[0].Params); err == nil {
				if shifted := r.FromUpstream(&pp); shifted != nil {
					data = shifted
				}
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
	c := p.c
	switch {
	case c.st.Cancelled():
		p.outcome = keepalive.OutcomeCancelled
	case c.aborted:
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream connection broke before the response was complete")
	case p.resuming:
		cause := "it ended without answering"
		if c.err != nil {
			cause = describe(c.err)
		}
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream closed its event stream without the response, and resuming it by GET failed: "+cause)
	case c.err != nil && c.status == 0:
		c.h.log.Debug("upstream failed", zap.ByteString("id", c.reqs[0].ID), zap.Error(c.err))
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream failed before answering: "+describe(c.err))
	case p.mode == modeJSON:
		p.jsonDone()
	case p.mode == modeSSE:
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream's event stream ended without the response")
	default:
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream ended without answering")
	}
}

// reconnect decides, once the next handler has returned, whether to follow
// an upstream event stream that ended without the response: the upstream
// gave an event id and closed the stream cleanly, as a server that polls
// (SEP-1699) does. It returns the GET that resumes the stream after the
// upstream's retry delay, and prepares for its answer; or false, when the
// call is over or must end. The reconnections are bounded by maxReconnects
// in a row that bring nothing new, and by max_duration.
func (p *producer) reconnect(up *http.Request) (*http.Request, time.Duration, bool) {
	c := p.c
	if c.state != stateCommitted || p.outcome != "" || p.mode != modeSSE || p.upID == "" ||
		c.err != nil || c.aborted || c.st.Cancelled() || up.Context().Err() != nil {
		return nil, 0, false
	}
	if p.events > p.seenEvents {
		p.reconnects = 0
	}
	p.seenEvents = p.events
	if p.reconnects >= maxReconnects {
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			fmt.Sprintf("the upstream closed its event stream without the response %d times in a row with nothing new", maxReconnects+1))
		return nil, 0, false
	}
	p.reconnects++
	if p.big != nil {
		// An event the closed stream left unfinished is dropped, as a
		// client drops it.
		p.big.Discard()
		p.big = nil
	}
	p.dec = sse.NewDecoder(0)
	p.dec.Split(splitAt, p.part)
	p.resuming = true
	c.status, c.header = 0, make(http.Header)

	get := up.Clone(up.Context())
	get.Method = http.MethodGet
	get.Body, get.ContentLength = http.NoBody, 0
	get.Header.Del("Content-Type")
	get.Header.Del("Content-Length")
	get.Header.Set("Accept", "text/event-stream")
	get.Header.Set("Last-Event-ID", p.upID)
	delay := p.retry
	if delay <= 0 {
		delay = defaultRetry
	}
	c.h.log.Debug("following the upstream's event stream", zap.String("stream", c.st.ID), zap.Duration("retry", delay))
	return get, delay, true
}

// jsonDone ends a call whose upstream answered with JSON: the body, already
// in the stream, becomes its final event if it is the response.
func (p *producer) jsonDone() {
	big := p.big
	p.big = nil
	var msgs []mcpmsg.Message
	msg, err := mcpmsg.Message{}, errNoBody
	if p.scan != nil {
		msg, err = p.scan.Message()
	}
	if err == nil {
		msgs = []mcpmsg.Message{msg}
	} else if big != nil && len(p.head) < splitAt {
		// A batch's array, small enough to parse whole.
		msgs, err = mcpmsg.ParseAny(bytes.TrimSpace(p.head))
	}
	if err != nil || !p.answer(msgs) {
		if big != nil {
			big.Discard()
		}
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream answered with JSON that is not the response to this request")
		return
	}
	p.commitBig(big, "")
	if p.outcome == "" {
		p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError,
			"the upstream's answer had no response to this request")
	}
}

// commitBig makes a message received in pieces an event of the stream, the
// final one if no request awaits a response any more.
func (p *producer) commitBig(big *streams.EventWriter, name string) {
	if p.bigErr != nil {
		big.Discard()
		err := p.bigErr
		p.bigErr = nil
		p.failStore(err)
		return
	}
	final := !p.pending()
	if final {
		p.clients = p.c.st.Readers()
	}
	seq, err := big.Commit(name, final)
	p.appended(seq, err, final)
}

// byToken returns the unanswered request whose progress token is token.
func (p *producer) byToken(token []byte) *keepalive.Call {
	for _, r := range p.c.reqs {
		if !r.Answered && r.HasToken(token) {
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
		for _, r := range p.c.reqs {
			if !r.Answered && mcpmsg.SameID(r.ID, m.ID) {
				r.Answered, matched = true, true
				break
			}
		}
	}
	return matched
}

// pending reports whether a request still awaits its response.
func (p *producer) pending() bool {
	for _, r := range p.c.reqs {
		if !r.Answered {
			return true
		}
	}
	return false
}

// appendFinal keeps an event for replay, as the final one if no request
// awaits a response any more, which ends the call.
func (p *producer) appendFinal(name string, data []byte) {
	final := !p.pending()
	if final {
		p.clients = p.c.st.Readers()
	}
	seq, err := p.c.st.Append(name, data, final)
	p.appended(seq, err, final)
}

// appended notes the result of adding an event to the stream.
func (p *producer) appended(seq uint64, err error, final bool) {
	switch {
	case err != nil:
		p.failStore(err)
	case seq == 0:
		p.outcome = keepalive.OutcomeCancelled
	case final:
		p.outcome = keepalive.OutcomeResponse
	}
	if p.outcome != "" {
		p.c.cancel()
	}
}

// failStore ends the call with an error because its stream could not keep
// an event: nothing is dropped without the client being told.
func (p *producer) failStore(err error) {
	p.c.h.log.Error("held call's event not kept", zap.String("stream", p.c.st.ID), zap.Error(err))
	cause := "the response could not be kept for the client"
	if errors.Is(err, streams.ErrSpillFull) {
		cause += ": it is larger than spill_limit allows"
	}
	p.fail(keepalive.OutcomeUpstreamError, mcpmsg.CodeInternalError, cause)
}

// fail ends the call with a JSON-RPC error for each request without a
// response, unless the client cancelled the call.
func (p *producer) fail(outcome string, code int, message string) {
	if p.big != nil {
		p.big.Discard()
		p.big = nil
	}
	if p.c.st.Cancelled() {
		p.outcome = keepalive.OutcomeCancelled
		p.c.cancel()
		return
	}
	p.outcome, p.cause = outcome, message
	p.clients = p.c.st.Readers()
	for _, r := range p.c.reqs {
		if r.Answered {
			continue
		}
		r.Answered = true
		// An error response is small: it fits in memory whatever the
		// spill files hold.
		_, _ = p.c.st.Append("", mcpmsg.ErrorResponse(r.ID, code, "mcp_keepalive: "+message), !p.pending())
	}
	p.c.cancel()
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
