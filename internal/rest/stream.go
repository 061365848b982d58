package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// keeper applies the project's keep-alive rule to one streaming call: at each
// tick, invented progress unless the upstream sent its own since the last
// tick, with every value sent kept strictly increasing.
type keeper struct {
	tool  string
	start time.Time
	seq   mcpmsg.ProgressSeq
}

// tick returns the invented progress for a tick at now, or nil when the
// upstream's own progress kept the call moving.
func (k *keeper) tick(now time.Time) *progressEvent {
	if k.seq.Upstream {
		k.seq.Upstream = false
		return nil
	}
	progress, total := k.seq.Invent()
	if total != nil {
		t := *total
		total = &t
	}
	return &progressEvent{Progress: progress, Total: total, Message: keepalive.InventedMessage(k.tool, now.Sub(k.start), k.seq.Message)}
}

// upstream maps the upstream's own progress onto the client's scale.
func (k *keeper) upstream(p progressEvent) progressEvent {
	pp := mcpmsg.ProgressParams{Progress: p.Progress, Total: p.Total, Message: p.Message}
	k.seq.FromUpstream(&pp)
	return progressEvent{Progress: pp.Progress, Total: pp.Total, Message: pp.Message}
}

// pass returns ev as the client should see it.
func (k *keeper) pass(ev event) event {
	if p, ok := ev.data.(progressEvent); ok {
		ev.data = k.upstream(p)
	}
	return ev
}

// outcomeOf is the end of a call as a streaming writer gets it.
type outcomeOf struct {
	res *mcp.CallToolResult
	err error
}

// serveStream answers POST /tools/{name}/stream: the call as server-sent
// events. Errors found before the call starts (bad body, unknown tool,
// invalid arguments) are plain JSON errors with their status; after that the
// status is 200 and the end is an event: result or error, then done.
func (g *Gateway) serveStream(w http.ResponseWriter, r *http.Request, name string) {
	c := g.begin(w, r, name)
	if c == nil {
		return
	}
	c.events = make(chan event, eventBuffer)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()

	// A client that goes away, or a write that fails, cancels the call.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	done := make(chan outcomeOf, 1)
	go func() {
		res, err := g.run(ctx, c)
		done <- outcomeOf{res, err}
	}()
	k := &keeper{tool: name, start: c.start}
	ticker := time.NewTicker(g.cfg.Interval)
	defer ticker.Stop()
	write := func(name string, data any) bool {
		b, err := json.Marshal(data)
		if err != nil {
			// Go's %q is not JSON's quoting; Marshal of a string cannot fail.
			b, _ = json.Marshal(map[string]string{"code": "internal", "message": err.Error()})
			name = "error"
		}
		if _, err := sse.WriteEventBytes(w, "", name, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for {
		select {
		case ev := <-c.events:
			ev = k.pass(ev)
			if !write(ev.name, ev.data) {
				cancel()
				<-done
				return
			}
		case now := <-ticker.C:
			if _, err := sse.WriteComment(w, "keepalive "+now.Sub(c.start).Round(time.Second).String()); err != nil {
				cancel()
				<-done
				return
			}
			if p := k.tick(now); p != nil && !write("progress", p) {
				cancel()
				<-done
				return
			}
			_ = rc.Flush()
		case o := <-done:
			// Events that came before the result go out before it.
			for drained := false; !drained; {
				select {
				case ev := <-c.events:
					write(ev.name, k.pass(ev).data)
				default:
					drained = true
				}
			}
			if o.err != nil {
				write("error", callError(ctx, o.err))
			} else {
				write("result", newCallResult(o.res))
			}
			write("done", struct{}{})
			return
		}
	}
}
