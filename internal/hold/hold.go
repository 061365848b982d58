package hold

import (
	"github.com/caddy-stata/caddy-stata/internal/keepalive"

	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// upstreamResult is how the next handler ended. It is written by the upstream
// goroutine before it closes its done channel and read only after that.
type upstreamResult struct {
	err     error
	aborted bool // panicked, as reverse_proxy does when a body breaks off
}

// hold runs a tools/call (or a batch with one, whose requests are reqs)
// against next on a context detached from the client's. An answer within the
// grace period passes through; otherwise the call goes on in a producer
// goroutine that writes its events to a stream, and this request reads that
// stream until the call ends, the client leaves, or it is time to poll. The
// held slot taken by ServeHTTP is given back when the call ends.
func (h *Handler) hold(w http.ResponseWriter, r *http.Request, body []byte, reqs []*request, next keepalive.Next) error {
	start := time.Now()
	pol := h.policyFor(revision(r.Header))
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	up := r.Clone(ctx)
	up.Body = io.NopCloser(bytes.NewReader(body))
	up.Header.Del("Accept-Encoding")
	if h.Detach != nil {
		up = h.Detach(up)
	}
	// The stream exists from the start, so that a cancellation during the
	// grace period finds the call.
	st := h.store.Create(streams.OwnerOf(r.Header), mcpmsg.IDKey(reqs[0].id), h.cfg.StoreLimit, cancel)

	cw := newCapture()
	done := make(chan struct{})
	res := new(upstreamResult)
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

	clientGone := false
	if h.cfg.Grace > 0 {
		t := time.NewTimer(h.cfg.Grace)
	grace:
		for {
			select {
			case <-done:
				t.Stop()
				cancel()
				st.Finish(0)
				h.held.Release()
				return h.passThrough(w, cw, res, reqs[0], st, start)
			case <-cw.notify:
				if !cw.arriving() {
					continue
				}
				// A large answer is on its way: let it through as it
				// comes instead of holding all of it in memory.
				t.Stop()
				st.Finish(0)
				h.held.Release()
				defer cancel()
				return h.streamThrough(w, cw, done, res)
			case <-t.C:
				break grace
			case <-r.Context().Done():
				t.Stop()
				clientGone = true
				break grace
			}
		}
	}

	p := &producer{h: h, reqs: reqs, start: start, st: st, cw: cw, done: done, res: res, cancel: cancel, pol: pol}
	if clientGone {
		h.calls.Add(1)
		go p.run()
		if pol.cancelOnGone {
			st.Cancel()
		}
		return nil
	}
	// The client is attached before the producer starts, so that a call
	// which ends at once is not taken for one whose client left.
	detach := st.Attach(r.Context())
	h.calls.Add(1)
	go p.run()
	commit(w)
	h.read(w, r, st, 0, pol, detach)
	return nil
}

// passThrough writes an answer that came within the grace period to the client
// exactly as the upstream gave it, failing the way next failed. A call the
// client cancelled meanwhile gets an empty event stream.
func (h *Handler) passThrough(w http.ResponseWriter, cw *capture, res *upstreamResult, first *request, st *streams.Stream, start time.Time) error {
	if st.Cancelled() {
		commit(w)
		return nil
	}
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
		zap.String("tool", first.tool),
		zap.ByteString("id", first.id),
		zap.Duration("duration", time.Since(start)),
		zap.Int("status", resp.status))
	return res.err
}

// streamThrough writes an answer that began within the grace period, and is
// too large to wait for, to the client as it comes: exactly the upstream's
// status, headers and bytes, in bounded memory. A client that goes away does
// not stop the upstream call; its answer is then discarded.
func (h *Handler) streamThrough(w http.ResponseWriter, cw *capture, done <-chan struct{}, res *upstreamResult) error {
	resp := cw.take()
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.status)
	rc := http.NewResponseController(w)
	write := func(b []byte) {
		if len(b) == 0 {
			return
		}
		_, err := w.Write(b)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			cw.close() // the client is gone: discard the rest
		}
	}
	cw.bound()
	write(resp.body)
	for {
		select {
		case <-cw.notify:
			write(cw.take().body)
		case <-done:
			write(cw.take().body)
			if res.aborted {
				panic(http.ErrAbortHandler)
			}
			return res.err
		}
	}
}

// commit answers the client with the headers of an event stream.
func commit(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Del("Content-Length")
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache, no-transform")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
}
