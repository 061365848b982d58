package hold

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/sse"
	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// streamWriter writes one held call's stream to one client: the events after
// its cursor and the keep-alives it has not seen. Its methods are not safe
// for concurrent use.
type streamWriter struct {
	h      *Handler
	w      http.ResponseWriter
	rc     *http.ResponseController
	st     *streams.Stream
	pol    policy
	cursor uint64 // the last event written
	ephVer uint64 // the version of the last keep-alives seen
	primed bool   // the priming event is written, or none is due
	buf    []byte // small events are encoded here, again and again
}

// smallEvent is the size up to which an event is encoded in the writer's
// buffer, which then stays that large.
const smallEvent = 4 << 10

// newStreamWriter returns a writer of st to w from the event after cursor.
func (h *Handler) newStreamWriter(w http.ResponseWriter, st *streams.Stream, cursor uint64, pol policy) *streamWriter {
	return &streamWriter{h: h, w: w, rc: http.NewResponseController(w), st: st, pol: pol, cursor: cursor,
		primed: !pol.prime || cursor != 0}
}

// step writes what the client has not seen, and flushes it. It returns the
// channel that is closed when there is more, and whether the stream is over
// for this client: the call's end is written, or events after the cursor
// were dropped for space (the stream ends rather than go on with a hole in
// it; a client that comes back is refused with the cause). An error is the
// client's: it is gone.
func (sw *streamWriter) step() (changed <-chan struct{}, over bool, err error) {
	h, w, st, pol := sw.h, sw.w, sw.st, sw.pol
	wrote := false
	if !sw.primed {
		sw.primed, wrote = true, true
		if _, err := sse.WriteEvent(w, sse.Event{ID: streams.EventID(st.ID, 0)}); err != nil {
			return nil, true, err
		}
	}
	b := st.Read(sw.cursor, sw.ephVer)
	if b.Gap {
		h.log.Warn("held call's stream ended: events were dropped for space", zap.String("stream", st.ID))
		return nil, true, nil
	}
	sw.ephVer = b.KeepAliveVer
	for _, ev := range b.Events {
		if ev.Data != nil && len(ev.Data) <= smallEvent {
			err = sw.writeSmall(ev)
		} else {
			err = writeEvent(w, st, h.eventID(st, ev, pol), ev)
		}
		if err != nil {
			break
		}
		sw.cursor, wrote = ev.Seq, true
	}
	// Nothing follows the response, not even a keep-alive.
	for _, ka := range b.KeepAlives {
		if err != nil || b.Done {
			break
		}
		kind := "comment"
		if ka.Comment {
			sw.buf = sse.AppendComment(sw.buf[:0], string(ka.Data))
			_, err = w.Write(sw.buf)
		} else if err = sw.writeSmall(ka); err == nil {
			sw.cursor, kind = ka.Seq, "progress"
		}
		wrote = true
		h.Observer.KeepAlive(kind)
	}
	if err == nil && wrote {
		err = sw.rc.Flush()
	}
	return b.Changed, b.Done || err != nil, err
}

// writeSmall writes an event whose data is in memory through the writer's
// buffer, with its id when the policy sends ids.
func (sw *streamWriter) writeSmall(ev streams.Event) error {
	b := sw.buf[:0]
	if sw.pol.ids {
		b = append(b, "id: "...)
		b = streams.AppendEventID(b, sw.st.ID, ev.Seq)
		b = append(b, '\n')
	}
	b = sse.AppendEvent(b, "", ev.Name, ev.Data)
	_, err := sw.w.Write(b)
	if cap(b) <= 2*smallEvent {
		sw.buf = b
	}
	return err
}

// gone notes that the client left: from protocol 2026-07-28 on, that cancels
// the call.
func (sw *streamWriter) gone() {
	if sw.pol.cancelOnGone && sw.st.Cancel() {
		sw.h.log.Info("held call cancelled: its client left", zap.String("stream", sw.st.ID))
	}
}

// read writes a held call's stream to one client, from the event after
// cursor, until the call is over, the client leaves, or (by the policy) it is
// time to close the connection for the client to poll. It is the only writer
// to w, and owns the goroutine it runs on. The caller has attached the
// reader to st (so that a call which ends at once still counts its client);
// read detaches it.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, st *streams.Stream, cursor uint64, pol policy, detach func()) {
	defer detach()
	sw := h.newStreamWriter(w, st, cursor, pol)
	var poll <-chan time.Time
	if pol.poll {
		t := time.NewTimer(h.cfg.PollAfter)
		defer t.Stop()
		poll = t.C
	}
	for {
		changed, over, err := sw.step()
		if err != nil {
			sw.gone()
		}
		if over {
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			sw.gone()
			return
		case <-poll:
			// The stream goes on; the client comes back with Last-Event-ID.
			_, _ = sse.WriteRetry(w, h.cfg.Retry)
			_ = sw.rc.Flush()
			return
		}
	}
}

// writeEvent writes one durable event of st, from memory or from its spill
// file.
func writeEvent(w http.ResponseWriter, st *streams.Stream, id string, ev streams.Event) error {
	if ev.Data != nil || ev.Size == 0 {
		_, err := sse.WriteEventBytes(w, id, ev.Name, ev.Data)
		return err
	}
	data, err := st.Open(ev)
	if err != nil {
		return err
	}
	_, err = sse.WriteEventFrom(w, id, ev.Name, data)
	return err
}

// eventID returns the id of a stream event as the client sees it: none
// unless the policy sends ids.
func (h *Handler) eventID(st *streams.Stream, ev streams.Event, pol policy) string {
	if !pol.ids {
		return ""
	}
	return streams.EventID(st.ID, ev.Seq)
}

// resume serves a GET whose Last-Event-ID names one of this handler's
// streams: what came after that event, then the rest of the call live. Only
// the stream's owner is served; anyone else, like an unknown stream, gets 404.
// If events after that one were dropped for space, the client gets 409 and a
// JSON-RPC error that says so, never a stream with a hole in it.
func (h *Handler) resume(w http.ResponseWriter, r *http.Request, id string, seq uint64) {
	st := h.store.Get(id)
	if st == nil && h.Remote != nil && h.resumeRemote(w, r, id, seq) {
		return
	}
	if st == nil || !st.Owner().Is(streams.OwnerOf(r.Header)) {
		h.log.Debug("resumption refused: no such stream for this client", zap.String("stream", id))
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if st.Read(seq, 0).Gap {
		h.log.Warn("resumption refused: events after the cursor were dropped for space",
			zap.String("stream", id), zap.Uint64("after", seq))
		h.Observer.Replayed(keepalive.ReplayGap)
		keepalive.WriteError(w, http.StatusConflict, nil, mcpmsg.CodeInternalError,
			"mcp_keepalive: the events after "+streams.EventID(id, seq)+" were dropped to stay within store_limit, so the stream cannot be resumed from there")
		return
	}
	h.log.Info("held call resumed", zap.String("stream", id), zap.Uint64("after", seq))
	h.Observer.Replayed(keepalive.ReplayServed)
	commitHeaders(w)
	pol := h.policyFor(revision(r.Header))
	pol.ids, pol.prime = true, false
	h.read(w, r, st, seq, pol, st.Attach(r.Context()))
}
