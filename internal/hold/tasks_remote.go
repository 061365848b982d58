package hold

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/streams"
	"github.com/caddy-stata/caddy-stata/internal/tasks"
)

// serveRemoteTask answers tasks/get and tasks/result for a task that
// another process runs or ran, from its stream in the shared store. A task
// the store does not know, or that is not the client's, gets the error of
// an unknown task. tasks/cancel of a task still working is passed on (see
// cancelRemoteTask).
func (h *Handler) serveRemoteTask(w http.ResponseWriter, r *http.Request, msg *mcpmsg.Message, id tasks.ID, owner streams.Owner, next keepalive.Next) error {
	ctx := r.Context()
	rs, err := h.Remote.Open(ctx, id.Stream, owner)
	if errors.Is(err, streams.ErrNotFound) {
		h.taskError(w, msg.ID, errUnknownTask)
		return nil
	}
	if err != nil {
		h.storeDown(w, msg, err)
		return nil
	}
	for {
		st, err := readRemote(ctx, rs)
		if err != nil {
			h.storeDown(w, msg, err)
			return nil
		}
		switch msg.Method {
		case tasks.MethodGet:
			t := tasks.New(id, st.status, st.message, id.Created, h.Tasks.Config.Poll)
			if revision(r.Header) < revStateless {
				keepalive.WriteJSON(w, http.StatusOK, tasks.Response(msg.ID, t))
				return nil
			}
			v, err := tasks.V2(t, "complete", st.response)
			if err != nil {
				keepalive.WriteError(w, http.StatusOK, msg.ID, mcpmsg.CodeInternalError, "mcp_keepalive: "+err.Error())
				return nil
			}
			keepalive.WriteJSON(w, http.StatusOK, tasks.Response(msg.ID, v))
			return nil
		case tasks.MethodCancel:
			if st.status.Terminal() {
				h.taskError(w, msg.ID, "mcp_keepalive: task "+id.String()+" is "+string(st.status)+" already: it cannot be cancelled")
				return nil
			}
			h.cancelRemoteTask(w, r, msg, id, rs, next)
			return nil
		}
		if st.status.Terminal() {
			if st.response == nil {
				keepalive.WriteError(w, http.StatusOK, msg.ID, mcpmsg.CodeInternalError, "mcp_keepalive: task "+id.String()+" was "+string(st.status)+": "+st.message)
				return nil
			}
			resp, err := tasks.Payload(st.response, msg.ID, id.String())
			if err != nil {
				keepalive.WriteError(w, http.StatusOK, msg.ID, mcpmsg.CodeInternalError, "mcp_keepalive: "+err.Error())
				return nil
			}
			keepalive.WriteJSON(w, http.StatusOK, resp)
			return nil
		}
		// tasks/result waits for the end; the store is asked again after
		// a keep-alive interval at most.
		if _, err := rs.Next(ctx, st.cursor, h.cfg.Interval); err != nil {
			if ctx.Err() == nil {
				h.storeDown(w, msg, err)
			}
			return nil
		}
	}
}

// cancelRemoteTask cancels a task that another process runs: that process
// is asked through the shared store to end the call, which ends the task
// there as cancelled, and once it has, the upstream gets
// notifications/cancelled for the task's request from this process, on the
// client's session as the running process would send it. The client gets
// the task cancelled.
func (h *Handler) cancelRemoteTask(w http.ResponseWriter, r *http.Request, msg *mcpmsg.Message, id tasks.ID, rs streams.RemoteStream, next keepalive.Next) {
	if err := rs.Cancel(r.Context()); err != nil {
		h.storeDown(w, msg, err)
		return
	}
	if req := rs.Request(); len(req) > 0 {
		h.notifyCancelled(r, req, next)
	}
	h.log.Info("task cancelled by the client through another instance", zap.String("task", id.String()))
	h.Tasks.observer().Changed(tasks.Cancelled)
	if revision(r.Header) >= revStateless {
		keepalive.WriteJSON(w, http.StatusOK, tasks.Response(msg.ID, tasks.Complete{ResultType: "complete"}))
		return
	}
	t := tasks.New(id, tasks.Cancelled, "cancelled by the client", time.Now(), h.Tasks.Config.Poll)
	keepalive.WriteJSON(w, http.StatusOK, tasks.Response(msg.ID, t))
}

// storeDown answers a task method whose task the shared store could not
// give.
func (h *Handler) storeDown(w http.ResponseWriter, msg *mcpmsg.Message, err error) {
	h.log.Warn("task method refused: the stream store failed", zap.String("method", msg.Method), zap.Error(err))
	keepalive.WriteError(w, http.StatusServiceUnavailable, msg.ID, mcpmsg.CodeInternalError,
		"mcp_keepalive: the stream store is unavailable, try again later")
}

// remoteState is a task's state as read from the shared store.
type remoteState struct {
	status   tasks.Status
	message  string
	response []byte // the call's response, once it is over
	cursor   uint64 // the last event read
}

// readRemote reads a task's stream from the shared store to its last event.
func readRemote(ctx context.Context, rs streams.RemoteStream) (remoteState, error) {
	st := remoteState{status: tasks.Working}
	for {
		b, err := rs.Next(ctx, st.cursor, 0)
		if err != nil {
			return st, err
		}
		for _, ev := range b.Events {
			if m, ok := tasks.ProgressMessage(ev.Data); ok {
				st.message = m
			}
			st.cursor = ev.Seq
		}
		if b.KeepAlive != nil {
			if m, ok := tasks.ProgressMessage(b.KeepAlive.Data); ok {
				st.message = m
			}
		}
		switch {
		case b.Final:
			st.response = b.Events[len(b.Events)-1].Data
			st.status, st.message = tasks.Outcome(st.response)
			return st, nil
		case b.Cancelled:
			st.status, st.message = tasks.Cancelled, "cancelled by the client"
			return st, nil
		case b.Orphaned:
			st.status, st.message = tasks.Failed, "the instance that ran this task stopped before the task ended; its result is lost"
			return st, nil
		case b.Gap:
			st.status, st.message = tasks.Failed, "the task's events are missing from the stream store"
			return st, nil
		case len(b.Events) == 0:
			return st, nil
		}
	}
}
