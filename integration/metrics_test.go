package integration

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// metric returns the value of the sample named name (with its labels, as
// Prometheus writes them) from the admin endpoint's /metrics, or -1.
func metric(t *testing.T, c *caddy, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + c.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestMetrics reads the handler's metrics from the admin endpoint after a
// polled call (so with resumptions) and a failed one.
func TestMetrics(t *testing.T) {
	up := startUpstream(t, true)
	c := startCaddy(t, up.HostPort, pollingSite)
	if o := tsCall(t, c.URL+"/mcp", "sleep", map[string]any{"ms": 4500}, nil); !o.OK {
		t.Fatalf("call failed: %s", o.Err)
	}
	if o := goCall(t, c.URL+"/mcp", "fail500", map[string]any{"ms": 1000}); o.OK {
		t.Fatal("the failing call succeeded")
	}
	// A call's log line comes after its metrics are counted.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, outcome := range []string{"response", "upstream_error"} {
		if _, err := c.waitLog(ctx, "held call finished", `"outcome":"`+outcome+`"`); err != nil {
			t.Fatal(err)
		}
	}
	for name, check := range map[string]func(float64) bool{
		`caddy_mcp_keepalive_calls_finished_total{outcome="response"}`:       func(v float64) bool { return v == 1 },
		`caddy_mcp_keepalive_calls_finished_total{outcome="upstream_error"}`: func(v float64) bool { return v == 1 },
		`caddy_mcp_keepalive_keepalives_total{kind="progress"}`:              func(v float64) bool { return v >= 4 },
		`caddy_mcp_keepalive_upstream_duration_seconds_count`:                func(v float64) bool { return v == 2 },
		`caddy_mcp_keepalive_replays_total{result="served"}`:                 func(v float64) bool { return v >= 1 },
		`caddy_mcp_keepalive_calls_held`:                                     func(v float64) bool { return v == 0 },
		`caddy_mcp_keepalive_streams_kept`:                                   func(v float64) bool { return v == 2 },
		`caddy_mcp_keepalive_stream_bytes`:                                   func(v float64) bool { return v > 0 },
	} {
		if v := metric(t, c, name); !check(v) {
			t.Errorf("%s = %v", name, v)
		}
	}
}
