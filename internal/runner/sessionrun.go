package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// runInSession runs one call in the Stata session of the MCP session key,
// starting the session if there is none: it waits for the session's earlier
// call to end (reporting so), runs the block and, when the block ended the
// session, notes why for the next call. The error is a tool error's message.
func (r *Runner) runInSession(ctx context.Context, key string, mcp waiter, spec blockSpec, tool string, prog *progress) (outcome, []string, error) {
	began := time.Now()
	for {
		if r.sessions.current(key) == nil {
			prog.reportStep(ctx, 0, began, spec.total, "starting a Stata session for this MCP session")
		}
		s, note, err := r.sessions.get(key, mcp)
		switch {
		case errors.Is(err, errSessionsFull):
			return outcome{}, nil, fmt.Errorf("cannot start a Stata session for this call: %v (the server's sessions setting). "+
				"Try again when a session ends (after session_idle without calls, or when its client closes it), "+
				"end this client's own with stata_session action destroy, or pass isolated: true to run in a fresh batch process", err)
		case errors.Is(err, errClosed):
			return outcome{}, nil, errors.New("the server is shutting down; try again shortly")
		case err != nil:
			return outcome{}, nil, fmt.Errorf("cannot start a Stata session: %w", err)
		}
		ok, err := r.sessions.lock(ctx, s, r.cfg.ProgressInterval, func() {
			prog.reportStep(ctx, 0, began, spec.total, "waiting: an earlier call of this MCP session is still running in its Stata session")
		})
		if err != nil {
			return outcome{status: statusCancelled, queued: time.Since(began),
				reason: "the call was cancelled while it waited for this session's earlier call; it never ran"}, nil, nil
		}
		if !ok {
			continue // the session ended while this call waited: start another
		}
		queued := time.Since(began)
		r.log.Info("stata call started in session", zap.String("tool", tool), zap.String("do_file", spec.target),
			zap.Int("pid", s.con.Pid()), zap.Duration("timeout", spec.timeout))
		o, graphs, ended := s.run(ctx, spec, prog, r.closing, r.breakGrace, r.cfg.KillGrace)
		if ended {
			r.sessions.forget(s)
		}
		r.sessions.unlock(s)
		o.queued, o.note = queued, note
		r.log.Info("stata call finished in session", zap.String("tool", tool), zap.Int("pid", o.pid),
			zap.String("status", o.status), zap.Int("code", o.code), zap.Duration("duration", o.duration),
			zap.Bool("session_ended", ended), zap.Int("graphs", len(graphs)))
		return o, graphs, nil
	}
}
