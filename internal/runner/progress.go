package runner

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// notifyFunc sends one progress notification; in a tool call it is the
// session's NotifyProgress.
type notifyFunc func(context.Context, *mcp.ProgressNotificationParams) error

// A progress sends the progress notifications of one call: the elapsed time
// since the call began, in seconds, as a strictly increasing value, and a
// message. A nil progress, or one without a token (the client asked for no
// progress), sends nothing. A progress is used by one goroutine at a time.
type progress struct {
	notify  notifyFunc
	token   any
	start   time.Time
	last    float64
	timeout time.Duration // bound on one notification
}

// newProgress returns the progress of a call whose client sent token (nil if
// none). Each notification may take at most timeout, so that a slow client
// cannot hold up the run's own timers.
func newProgress(notify notifyFunc, token any, timeout time.Duration) *progress {
	return &progress{notify: notify, token: token, start: time.Now(), timeout: timeout}
}

// report sends a notification with msg, if the client asked for progress.
func (p *progress) report(ctx context.Context, msg string) {
	if p == nil || p.token == nil || p.notify == nil {
		return
	}
	v := math.Round(time.Since(p.start).Seconds()*1000) / 1000
	if v <= p.last {
		v = p.last + 0.001
	}
	p.last = v
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	_ = p.notify(ctx, &mcp.ProgressNotificationParams{
		ProgressToken: p.token,
		Progress:      v,
		Message:       msg,
	})
}

// queuedMessage is the progress message of a call waiting for a worker.
func queuedMessage(ahead, busy, workers int) string {
	calls := "calls"
	if ahead == 1 {
		calls = "call"
	}
	return fmt.Sprintf("queued: %d %s ahead (%d of %d Stata workers busy)", ahead, calls, busy, workers)
}

// reportStep sends a notification for a run at command step of total (total
// 0: unknown): the value is the number of commands finished, step-1, plus a
// fraction below 1 that grows with the time spent since the step began, so
// that two reports at the same command still increase and the value stays
// below total until the run ends. A value that would not exceed the last is
// raised just above it. When Stata echoes more commands than were counted
// (nested do-files, loops), total grows with step.
func (p *progress) reportStep(ctx context.Context, step int, since time.Time, total int, msg string) {
	if p == nil || p.token == nil || p.notify == nil {
		return
	}
	t := time.Since(since).Seconds()
	v := float64(max(step-1, 0)) + math.Floor(t/(t+10)*1000)/1000
	if v <= p.last {
		v = p.last + 0.001
	}
	p.last = v
	params := &mcp.ProgressNotificationParams{ProgressToken: p.token, Progress: v, Message: msg}
	if total > 0 {
		params.Total = math.Max(float64(total), math.Ceil(v))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	_ = p.notify(ctx, params)
}
