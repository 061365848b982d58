package rest

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Outcomes of a call, as /stats counts them.
const (
	outcomeOK        = "ok"
	outcomeToolError = "tool_error"
	outcomeFailed    = "error"
	outcomeTimeout   = "timeout"
	outcomeCancelled = "cancelled"
)

// durationWindow is how many recent durations the percentiles are taken from,
// overall and per tool.
const durationWindow = 1024

// outcome names how a call ended.
func outcome(ctx context.Context, res *mcp.CallToolResult, err error) string {
	switch {
	case err == nil && res.IsError:
		return outcomeToolError
	case err == nil:
		return outcomeOK
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return outcomeTimeout
	case ctx.Err() != nil:
		return outcomeCancelled
	}
	return outcomeFailed
}

// window keeps the last durationWindow durations.
type window struct {
	d    []time.Duration
	next int
}

// add records d, forgetting the oldest when full.
func (w *window) add(d time.Duration) {
	if len(w.d) < durationWindow {
		w.d = append(w.d, d)
		return
	}
	w.d[w.next] = d
	w.next = (w.next + 1) % durationWindow
}

// summary returns the count and percentiles of the window.
func (w *window) summary() durationSummary {
	if len(w.d) == 0 {
		return durationSummary{}
	}
	s := append([]time.Duration(nil), w.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pick := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		i = max(0, min(i, len(s)-1))
		return float64(s[i].Microseconds()) / 1000
	}
	return durationSummary{Samples: len(s), P50: pick(0.50), P95: pick(0.95)}
}

// durationSummary is what /stats shows of durations, in milliseconds.
type durationSummary struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50Ms"`
	P95     float64 `json:"p95Ms"`
}

// stats counts calls by tool and outcome and keeps recent durations.
type stats struct {
	mu       sync.Mutex
	inFlight int
	calls    map[string]map[string]int64
	all      window
	byTool   map[string]*window
}

// begin counts a call that starts.
func (s *stats) begin() {
	s.mu.Lock()
	s.inFlight++
	s.mu.Unlock()
}

// end counts a call that ended with outcome after d.
func (s *stats) end(tool, outcome string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	if s.calls == nil {
		s.calls = map[string]map[string]int64{}
		s.byTool = map[string]*window{}
	}
	if s.calls[tool] == nil {
		s.calls[tool] = map[string]int64{}
		s.byTool[tool] = &window{}
	}
	s.calls[tool][outcome]++
	s.all.add(d)
	s.byTool[tool].add(d)
}

// statsBody is the JSON shape of /stats.
type statsBody struct {
	InFlight  int                         `json:"inFlight"`
	Calls     map[string]map[string]int64 `json:"calls"`
	Durations durationSummary             `json:"durations"`
	ByTool    map[string]durationSummary  `json:"durationsByTool"`
	Upstream  poolStats                   `json:"upstream"`
}

// snapshot returns the numbers for /stats.
func (s *stats) snapshot() statsBody {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := statsBody{InFlight: s.inFlight, Calls: map[string]map[string]int64{},
		Durations: s.all.summary(), ByTool: map[string]durationSummary{}}
	for tool, outcomes := range s.calls {
		m := make(map[string]int64, len(outcomes))
		for o, n := range outcomes {
			m[o] = n
		}
		b.Calls[tool] = m
		b.ByTool[tool] = s.byTool[tool].summary()
	}
	return b
}
