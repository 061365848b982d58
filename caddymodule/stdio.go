package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/hostcheck"
	"github.com/caddy-stata/caddy-stata/internal/stdio"
)

func init() {
	caddy.RegisterModule(StdioPool{})
}

// stdioPools holds the worker pools by their settings. A config reload that
// keeps an mcp_stdio's settings keeps its pool, with its processes and the
// calls they are running; a pool is closed when no loaded config uses it
// any more.
var stdioPools = caddy.NewUsagePool()

// StdioPool is the mcp_stdio handler: it serves a stdio MCP server over
// Streamable HTTP through an autoscaling, health-checked pool of its
// processes. A GET with `Accept: application/json` answers a health report.
// It ends the handler chain.
type StdioPool struct {
	// Command is the stdio MCP server to run, program first, then its
	// arguments. Required; the program must be found when the config
	// loads.
	Command []string `json:"command,omitempty"`

	// Env is added to the environment each worker inherits from Caddy.
	// Default: none.
	Env map[string]string `json:"env,omitempty"`

	// Dir is the working directory of each worker. Default: Caddy's.
	Dir string `json:"dir,omitempty"`

	// MinWorkers is the number of workers kept running. Default: `2`.
	MinWorkers int `json:"min_workers,omitempty"`

	// MaxWorkers is the most workers run at once. A worker is added when
	// every worker has MaxInflight calls running. Default: `8`, or
	// MinWorkers when that is more.
	MaxWorkers int `json:"max_workers,omitempty"`

	// MaxInflight is the most calls one worker runs at once. Default: `4`.
	MaxInflight int `json:"max_inflight,omitempty"`

	// IdleTimeout is how long a worker above MinWorkers may stay without a
	// call before it is stopped. Default: `5m`.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`

	// HealthInterval is how often each worker is sent a JSON-RPC ping.
	// Default: `30s`.
	HealthInterval caddy.Duration `json:"health_interval,omitempty"`

	// HealthTimeout is how long a worker has to answer a ping before it is
	// replaced. Default: `10s`.
	HealthTimeout caddy.Duration `json:"health_timeout,omitempty"`

	// RequestTimeout is the longest one call may take, its wait for a
	// worker included; then the client gets a JSON-RPC error and the worker
	// a notifications/cancelled. Default: `1h`.
	RequestTimeout caddy.Duration `json:"request_timeout,omitempty"`

	// MaxQueue is the number of calls that may wait when every worker is
	// full at MaxWorkers; a call over it is answered with HTTP 503 and a
	// JSON-RPC error. Default: `64`.
	MaxQueue int `json:"max_queue,omitempty"`

	// AllowedHosts and AllowedOrigins guard the endpoint against DNS
	// rebinding, as the MCP specification requires of a server, exactly as
	// the same fields of mcp_keepalive do (see there): by default a request
	// that arrived on a loopback address may name only localhost, 127.0.0.1
	// or [::1], with an Origin of one of them, and any other request any
	// host, with an Origin of that same host. A refused request gets 403
	// with a JSON-RPC error. Default: none.
	AllowedHosts   []string `json:"allowed_hosts,omitempty"`
	AllowedOrigins []string `json:"allowed_origins,omitempty"`

	key    string
	pool   *stdio.Pool
	hosts  *hostcheck.Policy
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (StdioPool) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mcp_stdio",
		New: func() caddy.Module { return new(StdioPool) },
	}
}

// config maps the settings onto the pool's configuration.
func (s *StdioPool) config() stdio.Config {
	cfg := stdio.Config{
		Command:        s.Command,
		Dir:            s.Dir,
		MinWorkers:     s.MinWorkers,
		MaxWorkers:     s.MaxWorkers,
		MaxInflight:    s.MaxInflight,
		IdleTimeout:    time.Duration(s.IdleTimeout),
		HealthInterval: time.Duration(s.HealthInterval),
		HealthTimeout:  time.Duration(s.HealthTimeout),
		RequestTimeout: time.Duration(s.RequestTimeout),
		MaxQueue:       s.MaxQueue,
	}
	for name, value := range s.Env {
		cfg.Env = append(cfg.Env, name+"="+value)
	}
	return cfg
}

// Provision finds or starts the pool for these settings.
func (s *StdioPool) Provision(ctx caddy.Context) error {
	// The pool's key leaves out what does not concern the pool, so that
	// changing the allowed hosts keeps it.
	settings := *s
	settings.AllowedHosts, settings.AllowedOrigins = nil, nil
	key, err := json.Marshal(&settings)
	if err != nil {
		return fmt.Errorf("mcp_stdio: %w", err)
	}
	s.key = string(key)
	if s.hosts, err = hostcheck.New(s.AllowedHosts, s.AllowedOrigins); err != nil {
		return fmt.Errorf("mcp_stdio: %w", err)
	}
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		if err := registerStdioMetrics(reg); err != nil {
			return fmt.Errorf("mcp_stdio: registering metrics: %w", err)
		}
	}
	logger := ctx.Logger()
	s.logger = logger
	cfg := s.config()
	cfg.Logger = logger
	cfg.Observer = stdioObserver{}
	val, loaded, err := stdioPools.LoadOrNew(s.key, func() (caddy.Destructor, error) {
		p, err := stdio.New(cfg)
		if err != nil {
			return nil, err
		}
		return pooledStdio{p}, nil
	})
	if err != nil {
		return fmt.Errorf("mcp_stdio: %w", err)
	}
	if !loaded {
		logger.Info("stdio worker pool started", zap.Strings("command", s.Command))
	}
	s.pool = val.(pooledStdio).Pool
	return nil
}

// Validate checks the settings.
func (s *StdioPool) Validate() error {
	if len(s.Command) == 0 || s.Command[0] == "" {
		return fmt.Errorf("mcp_stdio: command is required")
	}
	if err := findProgram(s.Command[0], s.Dir); err != nil {
		return fmt.Errorf("mcp_stdio: command: %w", err)
	}
	if err := s.config().Validate(); err != nil {
		return fmt.Errorf("mcp_stdio: %w", err)
	}
	if _, err := hostcheck.New(s.AllowedHosts, s.AllowedOrigins); err != nil {
		return fmt.Errorf("mcp_stdio: %w", err)
	}
	return nil
}

// Cleanup releases this config's hold on the pool. It does not wait: a
// pool no longer used is closed (its processes get SIGTERM at once, SIGKILL
// after a grace period in the background).
func (s *StdioPool) Cleanup() error {
	if s.key == "" {
		return nil
	}
	_, err := stdioPools.Delete(s.key)
	return err
}

// ServeHTTP implements caddyhttp.MiddlewareHandler; it does not call next.
func (s *StdioPool) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if err := s.hosts.Check(r); err != nil {
		s.logger.Warn("request refused: host or origin not allowed", zap.Error(err),
			zap.String("host", r.Host), zap.Strings("origin", r.Header.Values("Origin")),
			zap.String("remote_addr", r.RemoteAddr))
		hostcheck.WriteRefusal(w, err)
		return nil
	}
	s.pool.ServeHTTP(w, r)
	return nil
}

// pooledStdio lets the usage pool close a worker pool.
type pooledStdio struct{ *stdio.Pool }

// Destruct closes the pool without waiting for its processes to exit.
func (p pooledStdio) Destruct() error {
	p.Pool.Close()
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*StdioPool)(nil)
	_ caddy.Validator             = (*StdioPool)(nil)
	_ caddy.CleanerUpper          = (*StdioPool)(nil)
	_ caddyhttp.MiddlewareHandler = (*StdioPool)(nil)
	_ caddyfile.Unmarshaler       = (*StdioPool)(nil)
)
