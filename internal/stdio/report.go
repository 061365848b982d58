package stdio

import "time"

// Report is the pool's health report, as GET with Accept: application/json
// answers it.
type Report struct {
	Command  []string         `json:"command"`
	Workers  []WorkerReport   `json:"workers"`
	Min      int              `json:"min_workers"`
	Max      int              `json:"max_workers"`
	Queue    int              `json:"queue_length"`
	Sessions int              `json:"sessions"`
	Streams  int              `json:"streams"` // sessions with a GET stream open
	Restarts int64            `json:"restarts"`
	Calls    map[string]int64 `json:"calls"` // client requests ended, by outcome
	// LastError says why the last worker failed; it is cleared when a
	// worker gets ready.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// WorkerReport is one worker in the health report.
type WorkerReport struct {
	PID      int    `json:"pid"`
	State    string `json:"state"`
	Inflight int    `json:"inflight"`
	Served   int64  `json:"calls_served"`
	// Restarts counts the failed workers this one's line replaced.
	Restarts        int        `json:"restarts"`
	Started         time.Time  `json:"started"`
	Protocol        string     `json:"protocol,omitempty"`
	LastHealthCheck *time.Time `json:"last_health_check,omitempty"`
	HealthError     string     `json:"health_error,omitempty"`
	StopCause       string     `json:"stop_cause,omitempty"`
}

// Health returns the pool's state now.
func (p *Pool) Health() Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := Report{
		Command:   p.cfg.Command,
		Workers:   []WorkerReport{},
		Min:       p.cfg.MinWorkers,
		Max:       p.cfg.MaxWorkers,
		Queue:     len(p.queue),
		Sessions:  len(p.sessions),
		Restarts:  p.restarts,
		Calls:     map[string]int64{},
		LastError: p.lastErr,
	}
	for _, s := range p.sessions {
		if s.stream != nil {
			r.Streams++
		}
	}
	for k, v := range p.outcomes {
		r.Calls[k] = v
	}
	if p.lastErr != "" {
		at := p.lastErrAt
		r.LastErrorAt = &at
	}
	for _, w := range p.workers {
		wr := WorkerReport{
			PID: w.pid, State: w.state(), Inflight: len(w.calls), Served: w.served,
			Restarts: w.restarts, Started: w.started, Protocol: w.protocol,
			HealthError: w.healthErr, StopCause: w.cause,
		}
		if !w.health.IsZero() {
			h := w.health
			wr.LastHealthCheck = &h
		}
		r.Workers = append(r.Workers, wr)
	}
	return r
}

// States counts the workers by state, for metrics.
func (p *Pool) States() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := map[string]int{stateStarting: 0, stateIdle: 0, stateBusy: 0, stateStopping: 0}
	for _, w := range p.workers {
		n[w.state()]++
	}
	return n
}

// QueueLength returns the number of calls waiting for a worker.
func (p *Pool) QueueLength() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}
