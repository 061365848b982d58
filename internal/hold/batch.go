package hold

import (
	"time"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"

	"bytes"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// revNoBatches is the first protocol revision without JSON-RPC batches.
const revNoBatches = "2025-06-18"

// batch handles a JSON-RPC batch. Batches exist only up to revision
// 2025-03-26; from later clients they pass through for the upstream to
// refuse. An empty batch, or one none of whose members is a valid message,
// gets the errors JSON-RPC prescribes. A batch with a held tools/call is held
// as a whole: progress for each request's token, the upstream's answer
// relayed in full, and an error for each request that got no response.
// Anything else passes through.
func (h *Handler) batch(w http.ResponseWriter, r *http.Request, body []byte, next keepalive.Next) error {
	if revision(r.Header) >= revNoBatches {
		return next(w, r)
	}
	msgs, invalid, err := mcpmsg.ParseBatch(body)
	if errors.Is(err, mcpmsg.ErrEmptyBatch) {
		keepalive.WriteError(w, http.StatusBadRequest, nil, mcpmsg.CodeInvalidRequest, "invalid request: empty batch")
		return nil
	}
	if err != nil {
		return next(w, r)
	}
	valid := 0
	for _, e := range invalid {
		if e == nil {
			valid++
		}
	}
	if valid == 0 {
		errs := make([][]byte, len(invalid))
		for i := range errs {
			errs[i] = mcpmsg.ErrorResponse(nil, mcpmsg.CodeInvalidRequest, "invalid request: a batch member is not a JSON-RPC message")
		}
		keepalive.WriteJSON(w, http.StatusBadRequest, joinArray(errs))
		return nil
	}
	held := false
	for i, m := range msgs {
		held = held || (invalid[i] == nil && m.IsToolCall() && h.cfg.Holds(m.Tool))
	}
	if !held || !mcpmsg.AcceptsEventStream(r.Header) {
		return next(w, r)
	}
	var reqs []*keepalive.Call
	now := time.Now()
	for i := range msgs {
		if msgs[i].IsRequest() {
			reqs = append(reqs, keepalive.NewCall(&msgs[i], now))
		}
	}
	if !h.held.Acquire(h.cfg.MaxHeld) {
		h.log.Warn("held batch refused: too many held calls", zap.Int("max_held", h.cfg.MaxHeld))
		errs := make([][]byte, len(reqs))
		for i, req := range reqs {
			errs[i] = mcpmsg.ErrorResponse(req.ID, mcpmsg.CodeServerBusy, keepalive.BusyMessage)
		}
		keepalive.WriteJSON(w, http.StatusServiceUnavailable, joinArray(errs))
		return nil
	}
	return h.hold(w, r, body, reqs, next)
}

// joinArray joins JSON values into a JSON array.
func joinArray(values [][]byte) []byte {
	return append(append([]byte{'['}, bytes.Join(values, []byte{','})...), ']')
}
