package rest

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"
)

// eventBuffer is how many progress and log events of a call wait for its
// writer; past it, new ones are dropped rather than stall the session.
const eventBuffer = 64

// event is something a streaming call tells its client before the result.
type event struct {
	name string // "progress" or "message"
	data any
}

// progressEvent is the data of a progress event.
type progressEvent struct {
	Progress float64  `json:"progress"`
	Total    *float64 `json:"total,omitempty"`
	Message  string   `json:"message,omitempty"`
}

// messageEvent is the data of a message event: an upstream log message.
type messageEvent struct {
	Level  string `json:"level"`
	Logger string `json:"logger,omitempty"`
	Data   any    `json:"data"`
}

// callResult is the JSON shape of a call's result.
type callResult struct {
	Content           []mcp.Content `json:"content"`
	StructuredContent any           `json:"structuredContent,omitempty"`
	IsError           bool          `json:"isError"`
}

// newCallResult returns the JSON shape of res.
func newCallResult(res *mcp.CallToolResult) callResult {
	out := callResult{Content: res.Content, StructuredContent: res.StructuredContent, IsError: res.IsError}
	if out.Content == nil {
		out.Content = []mcp.Content{}
	}
	return out
}

// call is one tool call made for a REST, SSE or WebSocket client.
type call struct {
	tool  *toolInfo
	args  map[string]any
	start time.Time
	// events receives progress and log messages; nil for a plain call,
	// which wants neither.
	events chan event
	// heard tells that the upstream sent something for the call, so that it
	// ran there and must not run again.
	heard atomic.Bool
}

// send queues ev for the call's writer without ever blocking the session.
func (c *call) send(ev event) {
	c.heard.Store(true)
	if c.events == nil {
		return
	}
	select {
	case c.events <- ev:
	default:
	}
}

// settleDelay is how long a streaming call still takes the upstream's
// progress and log messages after its result came. The SDK's client handles
// notifications on a queue of their own, while a response completes its call
// at once: the last notifications the upstream sent before the result may be
// handled just after it.
const settleDelay = 100 * time.Millisecond

// settle waits settleDelay, or until ctx ends.
func settle(ctx context.Context) {
	t := time.NewTimer(settleDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// withSession runs fn on a session of the pool, once more on a new session
// when the first one turns out lost (the upstream restarted, say).
func (g *Gateway) withSession(ctx context.Context, fn func(*session) error) error {
	for attempt := 0; ; attempt++ {
		s, err := g.pool.acquire(ctx)
		if err != nil {
			return err
		}
		err = fn(s)
		g.pool.release(s)
		if err == nil || attempt > 0 || !retryable(err) || ctx.Err() != nil {
			return err
		}
		g.pool.drop(s, err.Error())
	}
}

// run calls the tool upstream and returns its result. The call ends with ctx
// or after the configured timeout, whichever comes first; the SDK then sends
// notifications/cancelled upstream.
func (g *Gateway) run(ctx context.Context, c *call) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	g.stats.begin()
	var res *mcp.CallToolResult
	attempts := 0
	err := g.withSession(ctx, func(s *session) error {
		attempts++
		if attempts > 1 && c.heard.Load() {
			return errorf(502, codeUnavailable, "the upstream session ended during the call")
		}
		token := "rest-" + strconv.FormatUint(g.tokens.Add(1), 10)
		g.progress.Store(token, c)
		defer g.progress.Delete(token)
		if c.events != nil {
			g.pool.listen(s, c)
			defer g.pool.unlisten(s, c)
		}
		params := &mcp.CallToolParams{Name: c.tool.tool.Name, Arguments: c.args}
		params.SetProgressToken(token)
		var err error
		res, err = s.cs.CallTool(ctx, params)
		if err == nil && c.events != nil {
			settle(ctx)
		}
		return err
	})
	how, took := outcome(ctx, res, err), time.Since(c.start)
	g.stats.end(c.tool.tool.Name, how, took)
	if ce := g.cfg.Logger.Check(zap.DebugLevel, "rest call finished"); ce != nil {
		ce.Write(zap.String("tool", c.tool.tool.Name), zap.String("outcome", how),
			zap.Duration("duration", took), zap.Error(err))
	}
	if err != nil {
		return nil, callError(ctx, err)
	}
	return res, nil
}

// onProgress hands an upstream progress notification to the call whose token
// it carries.
func (g *Gateway) onProgress(params *mcp.ProgressNotificationParams) {
	token, ok := params.ProgressToken.(string)
	if !ok {
		return
	}
	v, ok := g.progress.Load(token)
	if !ok {
		return
	}
	ev := progressEvent{Progress: params.Progress, Message: params.Message}
	if params.Total != 0 {
		total := params.Total
		ev.Total = &total
	}
	v.(*call).send(event{name: "progress", data: ev})
}
