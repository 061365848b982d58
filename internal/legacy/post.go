package legacy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// servePost passes a POST to session s's message URL to next, untouched,
// after noting what it means for the session's pending calls: a tools/call of
// a kept-alive tool becomes pending before the upstream sees it (so that its
// response cannot pass first), and stops being pending if the upstream does
// not accept the POST; a notifications/cancelled ends the call it names.
func (t *Tracker) servePost(w http.ResponseWriter, r *http.Request, s *session, next keepalive.Next) error {
	if !mcpmsg.IsMediaType(r.Header.Get("Content-Type"), "application/json") {
		return next(w, r)
	}
	body, whole, err := peekBody(r, t.cfg.MaxRequestBody)
	if err != nil {
		return &keepalive.RequestBodyError{Err: err}
	}
	if !whole {
		t.log.Debug("legacy message not inspected: body too large", zap.Int64("max_request_body", t.cfg.MaxRequestBody))
		return next(w, r)
	}
	msg, err := mcpmsg.Parse(body)
	switch {
	case err != nil:
		return next(w, r)
	case msg.IsToolCall() && t.cfg.Holds(msg.Tool):
		return t.postCall(w, r, s, &msg, next)
	case msg.Method == mcpmsg.MethodCancelled && msg.RequestID != nil:
		s.endID(msg.RequestID, keepalive.OutcomeCancelled)
	}
	return next(w, r)
}

// postCall makes a tools/call pending, holding one of the shared slots, for
// the length of its POST and after, unless the upstream refuses the POST.
// Over max_held the call is refused, 503 with a JSON-RPC error, and the
// upstream never sees it.
func (t *Tracker) postCall(w http.ResponseWriter, r *http.Request, s *session, msg *mcpmsg.Message, next keepalive.Next) error {
	if !t.slots.Acquire(t.cfg.MaxHeld) {
		t.log.Warn("held call refused: too many held calls",
			zap.String("tool", msg.Tool), zap.Int("max_held", t.cfg.MaxHeld), zap.String("transport", "legacy"))
		keepalive.WriteError(w, http.StatusServiceUnavailable, msg.ID, mcpmsg.CodeServerBusy, keepalive.BusyMessage)
		return nil
	}
	c := &call{Call: keepalive.NewCall(msg, time.Now()), t: t}
	if !s.add(c) {
		// The stream closed: the call was never pending.
		t.slots.Release()
		return next(w, r)
	}
	sw := &statusWriter{ResponseWriter: w}
	cause := "the upstream handler panicked"
	defer func() {
		// Also when next panics: a call whose POST broke gets no response.
		if cause != "" {
			s.end(c, keepalive.OutcomeUpstreamError, cause)
		}
	}()
	err := next(sw, r)
	status := sw.status
	if status == 0 {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	switch {
	case err != nil:
		cause = "the POST of the call failed before the upstream accepted it"
	case status < 200 || status > 299:
		cause = fmt.Sprintf("the upstream answered the POST of the call %d %s", status, http.StatusText(status))
	default:
		cause = ""
	}
	return err
}

// peekBody reads r's body up to limit bytes and puts back a body that gives
// next exactly the same bytes. It reports whether what it read is the whole
// body.
func peekBody(r *http.Request, limit int64) (body []byte, whole bool, err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true, nil
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > limit {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		return nil, false, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, true, nil
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// statusWriter notes the status of the response written through it, and
// changes nothing.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader notes the first final status and passes it on.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write passes p on, noting the implied status 200 if none was written.
func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush flushes the underlying writer, if it can.
func (w *statusWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
