package runner

import (
	"context"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestProgressStrictlyIncreases(t *testing.T) {
	var got []*mcp.ProgressNotificationParams
	notify := func(_ context.Context, p *mcp.ProgressNotificationParams) error {
		got = append(got, p)
		return nil
	}
	p := newProgress(notify, "tok", time.Second)
	for i := 0; i < 5; i++ { // faster than the clock's millisecond rounding
		p.report(context.Background(), "m")
	}
	if len(got) != 5 {
		t.Fatalf("%d notifications", len(got))
	}
	for i, n := range got {
		if n.ProgressToken != "tok" || n.Message != "m" {
			t.Errorf("notification %d: %+v", i, n)
		}
		if i > 0 && n.Progress <= got[i-1].Progress {
			t.Errorf("notification %d: %v after %v", i, n.Progress, got[i-1].Progress)
		}
	}

	// No token, no notifications; a nil progress is silent too.
	got = nil
	newProgress(notify, nil, time.Second).report(context.Background(), "m")
	(*progress)(nil).report(context.Background(), "m")
	if len(got) != 0 {
		t.Errorf("%d notifications without a token", len(got))
	}
}

func TestQueuedMessage(t *testing.T) {
	if got := queuedMessage(1, 2, 2); got != "queued: 1 call ahead (2 of 2 Stata workers busy)" {
		t.Errorf("got %q", got)
	}
	if got := queuedMessage(0, 1, 1); got != "queued: 0 calls ahead (1 of 1 Stata workers busy)" {
		t.Errorf("got %q", got)
	}
}
