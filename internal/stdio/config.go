package stdio

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultMinWorkers     = 2
	DefaultMaxWorkers     = 8
	DefaultMaxInflight    = 4
	DefaultIdleTimeout    = 5 * time.Minute
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 10 * time.Second
	DefaultRequestTimeout = time.Hour
	DefaultMaxQueue       = 64
	DefaultKillGrace      = 5 * time.Second
)

// Config is the configuration of a Pool. Zero values take the defaults above.
type Config struct {
	// Command is the program to run and its arguments. Required.
	Command []string
	// Env is added to the environment of each worker, as "NAME=value".
	Env []string
	// Dir is the working directory of each worker. Default: Caddy's own.
	Dir string

	// MinWorkers is the number of workers the pool keeps running.
	// Default: 2.
	MinWorkers int
	// MaxWorkers is the most workers the pool runs at once. Default: 8.
	MaxWorkers int
	// MaxInflight is the most calls one worker runs at once; when every
	// worker has that many, the pool adds one. Default: 4.
	MaxInflight int
	// IdleTimeout is how long a worker above MinWorkers may stay without a
	// call before it is stopped. Default: 5m.
	IdleTimeout time.Duration
	// HealthInterval is how often each worker is pinged. Default: 30s.
	HealthInterval time.Duration
	// HealthTimeout is how long a worker has to answer a ping (and to
	// answer initialize, at least 30s); after it, the worker is replaced.
	// Default: 10s.
	HealthTimeout time.Duration
	// RequestTimeout is the longest one call may take, its wait in the
	// queue included. Default: 1h.
	RequestTimeout time.Duration
	// MaxQueue is the number of calls that may wait when every worker is
	// full and the pool is at MaxWorkers. Default: 64.
	MaxQueue int
	// KillGrace is how long a stopped worker has between SIGTERM and
	// SIGKILL. Default: 5s.
	KillGrace time.Duration

	// Logger receives the pool's logs and the workers' stderr.
	// Default: a no-op logger.
	Logger *zap.Logger
	// Observer is told about calls, restarts and queue changes, for
	// metrics. Default: none.
	Observer Observer
}

// Observer is told what happens in a pool, for metrics. Its methods must
// not block.
type Observer interface {
	// CallDone is called once per client request with its outcome: ok,
	// error (the worker answered with a JSON-RPC error), worker_failed,
	// timeout, cancelled or rejected.
	CallDone(outcome string)
	// Restarted is called when a worker that failed is replaced.
	Restarted()
}

// withDefaults returns c with every zero setting replaced by its default.
func (c Config) withDefaults() Config {
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&c.MinWorkers, DefaultMinWorkers)
	setInt(&c.MaxWorkers, DefaultMaxWorkers)
	if c.MaxWorkers < c.MinWorkers {
		// Only one bound was given; the other follows it.
		c.MaxWorkers = c.MinWorkers
	}
	setInt(&c.MaxInflight, DefaultMaxInflight)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.HealthInterval, DefaultHealthInterval)
	setDur(&c.HealthTimeout, DefaultHealthTimeout)
	setDur(&c.RequestTimeout, DefaultRequestTimeout)
	setInt(&c.MaxQueue, DefaultMaxQueue)
	setDur(&c.KillGrace, DefaultKillGrace)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Validate checks the settings as given, before defaults.
func (c Config) Validate() error {
	switch {
	case len(c.Command) == 0 || c.Command[0] == "":
		return errors.New("command is required")
	case c.MinWorkers < 0, c.MaxWorkers < 0, c.MaxInflight < 0, c.MaxQueue < 0:
		return errors.New("worker counts, max_inflight and max_queue must not be negative")
	case c.MinWorkers > 0 && c.MaxWorkers > 0 && c.MinWorkers > c.MaxWorkers:
		return fmt.Errorf("min_workers (%d) is more than max_workers (%d)", c.MinWorkers, c.MaxWorkers)
	case c.IdleTimeout < 0, c.HealthInterval < 0, c.HealthTimeout < 0, c.RequestTimeout < 0, c.KillGrace < 0:
		return errors.New("durations must not be negative")
	}
	return nil
}
