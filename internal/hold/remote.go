package hold

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/sse"
	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// resumeRemote serves a GET whose Last-Event-ID names a stream this process
// does not hold, from the shared store of h.Remote: what came after that
// event, then the rest of the call live, whichever process runs it, with the
// same bytes that process writes for those events. It reports false when
// the shared store does not know the stream either (or it is not the
// client's), for the caller to answer 404.
func (h *Handler) resumeRemote(w http.ResponseWriter, r *http.Request, id string, seq uint64) bool {
	ctx := r.Context()
	rs, err := h.Remote.Open(ctx, id, streams.OwnerOf(r.Header))
	if errors.Is(err, streams.ErrNotFound) {
		return false
	}
	var b streams.RemoteBatch
	if err == nil {
		b, err = rs.Next(ctx, seq, 0)
	}
	if err != nil {
		h.log.Warn("resumption refused: the stream store failed", zap.String("stream", id), zap.Error(err))
		keepalive.WriteError(w, http.StatusServiceUnavailable, nil, mcpmsg.CodeInternalError,
			"mcp_keepalive: the stream store is unavailable, try again later")
		return true
	}
	if b.Gap && len(b.Events) == 0 {
		h.log.Warn("resumption refused: events after the cursor are missing from the stream store",
			zap.String("stream", id), zap.Uint64("after", seq))
		h.Observer.Replayed(keepalive.ReplayGap)
		keepalive.WriteError(w, http.StatusConflict, nil, mcpmsg.CodeInternalError,
			"mcp_keepalive: the events after "+streams.EventID(id, seq)+" are missing from the stream store, so the stream cannot be resumed from there")
		return true
	}
	h.log.Info("held call resumed from the stream store", zap.String("stream", id), zap.Uint64("after", seq))
	h.Observer.Replayed(keepalive.ReplayServed)
	commitHeaders(w)
	rw := &remoteWriter{h: h, w: w, rc: http.NewResponseController(w), id: id, cursor: seq}
	pol := h.policyFor(revision(r.Header))
	var poll <-chan time.Time
	pollAt := time.Now().Add(h.cfg.PollAfter)
	if pol.poll {
		t := time.NewTimer(h.cfg.PollAfter)
		defer t.Stop()
		poll = t.C
	}
	for {
		over, err := rw.write(b)
		if over || err != nil {
			return true
		}
		select {
		case <-ctx.Done():
			return true
		case <-poll:
			_, _ = sse.WriteRetry(w, h.cfg.Retry)
			_ = rw.rc.Flush()
			return true
		default:
		}
		// Waiting no longer than the keep-alive interval keeps the client's
		// connection busy; the poll timer is checked between waits, which
		// end when it fires.
		wait := h.cfg.Interval
		if pol.poll {
			wait = max(min(wait, time.Until(pollAt)), time.Millisecond)
		}
		b, err = rs.Next(ctx, rw.cursor, wait)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("resumed stream ended: the stream store failed", zap.String("stream", id), zap.Error(err))
			}
			// The client resumes again from its cursor, here or elsewhere.
			return true
		}
	}
}

// remoteWriter writes a stream read from the shared store to one client.
type remoteWriter struct {
	h      *Handler
	w      http.ResponseWriter
	rc     *http.ResponseController
	id     string
	cursor uint64
	buf    []byte
}

// write writes a batch and flushes it, or a keep-alive comment when the
// batch is empty and the stream goes on. It reports whether the stream is
// over for this client.
func (rw *remoteWriter) write(b streams.RemoteBatch) (over bool, err error) {
	for _, ev := range b.Events {
		rw.buf = rw.buf[:0]
		rw.buf = append(rw.buf, "id: "...)
		rw.buf = streams.AppendEventID(rw.buf, rw.id, ev.Seq)
		rw.buf = append(rw.buf, '\n')
		rw.buf = sse.AppendEvent(rw.buf, "", ev.Name, ev.Data)
		if _, err = rw.w.Write(rw.buf); err != nil {
			return true, err
		}
		rw.cursor = ev.Seq
	}
	switch {
	case b.Final:
		over = true
	case b.Gap:
		rw.h.log.Warn("resumed stream ended: events are missing from the stream store", zap.String("stream", rw.id))
		over = true
	case b.Cancelled:
		over = true
	case b.Orphaned:
		rw.h.log.Warn("resumed stream ended: the instance that ran the call stopped before its response", zap.String("stream", rw.id))
		rw.buf = sse.AppendEvent(rw.buf[:0], "", "", mcpmsg.ErrorResponse(b.ID, mcpmsg.CodeInternalError,
			"mcp_keepalive: the instance that ran this call stopped before the call ended; its result is lost"))
		if _, err = rw.w.Write(rw.buf); err != nil {
			return true, err
		}
		over = true
	case b.KeepAlive != nil && len(b.Events) == 0:
		rw.buf = rw.buf[:0]
		rw.buf = append(rw.buf, "id: "...)
		rw.buf = streams.AppendEventID(rw.buf, rw.id, b.KeepAlive.Seq)
		rw.buf = append(rw.buf, '\n')
		rw.buf = sse.AppendEvent(rw.buf, "", "", b.KeepAlive.Data)
		if _, err = rw.w.Write(rw.buf); err != nil {
			return true, err
		}
		rw.cursor = b.KeepAlive.Seq
		rw.h.Observer.KeepAlive("progress")
	case len(b.Events) == 0:
		rw.buf = sse.AppendComment(rw.buf[:0], "keepalive")
		if _, err = rw.w.Write(rw.buf); err != nil {
			return true, err
		}
		rw.h.Observer.KeepAlive("comment")
	}
	if err = rw.rc.Flush(); err != nil {
		return true, err
	}
	return over, nil
}

// cancelRemote asks the process that runs the call of the client of r whose
// request key is request, if another one does, to cancel it.
func (h *Handler) cancelRemote(r *http.Request, request string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if err := h.Remote.Cancel(ctx, streams.OwnerOf(r.Header), request); err != nil {
		h.log.Warn("cancel not passed on: the stream store failed", zap.String("request", request), zap.Error(err))
	}
}
