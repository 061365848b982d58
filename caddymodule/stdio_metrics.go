package caddymodule

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// stdioMetrics are the Prometheus metrics of every mcp_stdio pool of the
// process. Like the pools, they live at package level and are registered
// again in the registry of each config load.
var stdioMetrics = struct {
	workers  prometheus.Collector
	calls    *prometheus.CounterVec
	restarts prometheus.Counter
	queue    prometheus.GaugeFunc
}{
	workers: stdioWorkers{desc: prometheus.NewDesc("caddy_mcp_stdio_workers",
		"Workers of the mcp_stdio pools, by state: starting, idle, busy, stopping.", []string{"state"}, nil)},
	calls: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "mcp_stdio", Name: "calls_total",
		Help: "Client requests served by mcp_stdio pools, by outcome: ok, error (the server's JSON-RPC error), worker_failed, timeout, cancelled, rejected (queue full).",
	}, []string{"outcome"}),
	restarts: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "mcp_stdio", Name: "restarts_total",
		Help: "Workers of mcp_stdio pools that failed (exited, or did not answer a ping) and were replaced.",
	}),
	queue: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "mcp_stdio", Name: "queue_length",
		Help: "Calls waiting for a worker in mcp_stdio pools.",
	}, func() float64 {
		n := 0
		stdioPools.Range(func(_, v any) bool {
			if p, ok := v.(pooledStdio); ok {
				n += p.QueueLength()
			}
			return true
		})
		return float64(n)
	}),
}

// registerStdioMetrics registers the metrics in reg; a collector that is
// there already (another handler of the same config registered it) is fine.
func registerStdioMetrics(reg prometheus.Registerer) error {
	m := &stdioMetrics
	for _, c := range []prometheus.Collector{m.workers, m.calls, m.restarts, m.queue} {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			return err
		}
	}
	return nil
}

// stdioWorkers collects the worker counts of every pool, by state.
type stdioWorkers struct{ desc *prometheus.Desc }

// Describe implements prometheus.Collector.
func (s stdioWorkers) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

// Collect implements prometheus.Collector.
func (s stdioWorkers) Collect(ch chan<- prometheus.Metric) {
	total := map[string]int{}
	stdioPools.Range(func(_, v any) bool {
		p, ok := v.(pooledStdio)
		if !ok {
			return true
		}
		for state, n := range p.States() {
			total[state] += n
		}
		return true
	})
	for _, state := range []string{"starting", "idle", "busy", "stopping"} {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, float64(total[state]), state)
	}
}

// stdioObserver feeds the metrics from the pools.
type stdioObserver struct{}

func (stdioObserver) CallDone(outcome string) { stdioMetrics.calls.WithLabelValues(outcome).Inc() }

func (stdioObserver) Restarted() { stdioMetrics.restarts.Inc() }
