package caddymodule

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-stata/caddy-stata/internal/tasks"
)

// keepAliveMetrics are the Prometheus metrics of every mcp_keepalive handler
// of the process. They live at package level, like the calls they count, and
// are registered again in the registry of each config load.
var keepAliveMetrics = struct {
	held       prometheus.GaugeFunc
	finished   *prometheus.CounterVec
	keepAlives *prometheus.CounterVec
	duration   prometheus.Histogram
	replays    *prometheus.CounterVec
	streams    prometheus.GaugeFunc
	storeBytes prometheus.GaugeFunc
	spillBytes prometheus.GaugeFunc
	// storeErrors counts failed operations of a shared stream store.
	storeErrors *prometheus.CounterVec
	tasks       *prometheus.CounterVec
	taskPolls   *prometheus.CounterVec
}{
	held: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "calls_held",
		Help: "Tool calls held now.",
	}, func() float64 { return float64(heldCalls.Held()) }),
	finished: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "calls_finished_total",
		Help: "Held tool calls finished, by outcome: response, upstream_error, timeout, cancelled, client_gone.",
	}, []string{"outcome"}),
	keepAlives: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "keepalives_total",
		Help: "Keep-alive events written to clients, by kind: progress or comment.",
	}, []string{"kind"}),
	duration: prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "upstream_duration_seconds",
		Help:    "How long the upstream took over held tool calls.",
		Buckets: []float64{1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
	}),
	replays: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "replays_total",
		Help: "Resumptions of held calls' streams, by result: served, or gap (refused: events after the client's cursor had been dropped for space).",
	}, []string{"result"}),
	streams: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "streams_kept",
		Help: "Streams of held calls kept for resumption, running calls included.",
	}, func() float64 { n, _, _, _ := heldStreams.Stats(); return float64(n) }),
	storeBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "stream_bytes",
		Help: "Bytes of events kept in memory for resumption.",
	}, func() float64 { _, _, b, _ := heldStreams.Stats(); return float64(b) }),
	spillBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "spill_bytes",
		Help: "Bytes of events in spill files.",
	}, func() float64 { _, _, _, b := heldStreams.Stats(); return float64(b) }),
	storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "store_errors_total",
		Help: "Failed operations of the shared stream store (Redis), by op: write, queue (a write dropped because the store fell behind), read, open, publish, heartbeat, task, tasks, too_large.",
	}, []string{"op"}),
	tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "tasks_total",
		Help: "Tasks by the status they entered: working (created), completed, failed, cancelled.",
	}, []string{"status"}),
	taskPolls: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "mcp_keepalive", Name: "task_polls_total",
		Help: "Task methods answered, by method: tasks/get, tasks/result, tasks/list, tasks/cancel.",
	}, []string{"method"}),
}

// registerKeepAliveMetrics registers the metrics in reg; a collector that is
// there already (another handler of the same config registered it) is fine.
func registerKeepAliveMetrics(reg prometheus.Registerer) error {
	m := &keepAliveMetrics
	for _, c := range []prometheus.Collector{m.held, m.finished, m.keepAlives, m.duration, m.replays, m.streams, m.storeBytes, m.spillBytes, m.storeErrors, m.tasks, m.taskPolls} {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			return err
		}
	}
	return nil
}

// metricsObserver feeds the metrics from a handler's held calls.
type metricsObserver struct{}

func (metricsObserver) Finished(outcome string, upstream time.Duration) {
	keepAliveMetrics.finished.WithLabelValues(outcome).Inc()
	keepAliveMetrics.duration.Observe(upstream.Seconds())
}

func (metricsObserver) KeepAlive(kind string) {
	keepAliveMetrics.keepAlives.WithLabelValues(kind).Inc()
}

func (metricsObserver) Replayed(result string) {
	keepAliveMetrics.replays.WithLabelValues(result).Inc()
}

func (metricsObserver) Changed(s tasks.Status) {
	keepAliveMetrics.tasks.WithLabelValues(string(s)).Inc()
}

func (metricsObserver) Served(method string) {
	keepAliveMetrics.taskPolls.WithLabelValues(method).Inc()
}
