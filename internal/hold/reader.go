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

// read writes a held call's stream to one client, from the event after
// cursor, until the call is over, the client leaves, or (by the policy) it is
// time to close the connection for the client to poll. It is the only writer
// to w. The caller has attached the reader to st (so that a call which ends
// at once still counts its client); read detaches it.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, st *streams.Stream, cursor uint64, pol policy, detach func()) {
	rc := http.NewResponseController(w)
	defer detach()
	gone := func() {
		if pol.cancelOnGone && st.Cancel() {
			h.log.Info("held call cancelled: its client left", zap.String("stream", st.ID))
		}
	}
	if pol.prime && cursor == 0 {
		if _, err := sse.WriteEvent(w, sse.Event{ID: streams.EventID(st.ID, 0)}); err != nil || rc.Flush() != nil {
			gone()
			return
		}
	}
	var poll <-chan time.Time
	if pol.poll {
		t := time.NewTimer(h.cfg.PollAfter)
		defer t.Stop()
		poll = t.C
	}
	var ephVer uint64
	for {
		b := st.Read(cursor, ephVer)
		if b.Gap {
			// Events after the cursor were dropped for space: end the
			// stream rather than send it with a hole. A client that comes
			// back is refused with the cause.
			h.log.Warn("held call's stream ended: events were dropped for space", zap.String("stream", st.ID))
			return
		}
		ephVer = b.KeepAliveVer
		var err error
		wrote := false
		for _, ev := range b.Events {
			if err = writeEvent(w, st, h.eventID(st, ev, pol), ev); err != nil {
				break
			}
			cursor, wrote = ev.Seq, true
		}
		// Nothing follows the response, not even a keep-alive.
		for _, ka := range b.KeepAlives {
			if err != nil || b.Done {
				break
			}
			kind := "comment"
			if ka.Comment {
				_, err = sse.WriteComment(w, string(ka.Data))
			} else if _, err = sse.WriteEventBytes(w, h.eventID(st, ka, pol), ka.Name, ka.Data); err == nil {
				cursor, kind = ka.Seq, "progress"
			}
			wrote = true
			h.Observer.KeepAlive(kind)
		}
		if err == nil && wrote {
			err = rc.Flush()
		}
		if err != nil {
			gone()
			return
		}
		if b.Done {
			return
		}
		select {
		case <-b.Changed:
		case <-r.Context().Done():
			gone()
			return
		case <-poll:
			// The stream goes on; the client comes back with Last-Event-ID.
			_, _ = sse.WriteRetry(w, h.cfg.Retry)
			_ = rc.Flush()
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
