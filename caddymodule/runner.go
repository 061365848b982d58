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

	"github.com/caddy-stata/caddy-stata/internal/runner"
)

func init() {
	caddy.RegisterModule(StataRunner{})
}

// runners holds the running Stata servers by their settings. A config reload
// that keeps a stata_runner's settings keeps its runner, so the Stata jobs it
// is running are not stopped; a runner is closed when no loaded config uses
// it any more.
var runners = caddy.NewUsagePool()

// StataRunner is the stata_runner handler: an MCP server (Streamable HTTP,
// built on the official Go SDK) that runs Stata do-files and code, with the
// tools stata_run_file, stata_run_selection and stata_session. Each MCP
// session gets a Stata session of its own (Stata in console mode), kept
// between its calls so that data in memory carries over; a call with
// `isolated: true` runs in a fresh batch process instead, from a bounded
// pool. Calls report progress (the command running, and how many of the
// do-file's commands have run), return the graphs they draw as PNG images,
// and stop on timeouts and cancellation. A GET with `Accept:
// application/json` answers a health report (503 when Stata cannot start).
// It ends the handler chain.
type StataRunner struct {
	// Stata is the path of the Stata executable (stata-mp, stata-se or stata).
	// Default: the first of those found on PATH or under /usr/local/stata* or
	// /Applications/Stata*. When none is found the handler still loads, and
	// every tool call answers with a tool error that says to set this.
	Stata string `json:"stata,omitempty"`

	// Workers is the number of batch Stata processes (calls with
	// `isolated: true`, and clients without an MCP session) that may run at
	// once; Stata licences are per seat. Default: `1`.
	Workers int `json:"workers,omitempty"`

	// Sessions is the number of Stata sessions (one per MCP session, kept
	// between its calls) that may run at once; a call that needs a new one
	// over the limit gets a tool error saying so. Default: `4`.
	Sessions int `json:"sessions,omitempty"`

	// SessionIdle ends a Stata session that has run no call for this long;
	// the next call of its MCP session starts a new one and says so. `0`
	// keeps idle sessions until their MCP session ends. Default: `1h`.
	SessionIdle *caddy.Duration `json:"session_idle,omitempty"`

	// Graphs, when true, returns the graphs a call draws in its session as
	// PNG image contents after the text (exported with graph export, then
	// dropped). Default: `true`.
	Graphs *bool `json:"graphs,omitempty"`

	// MaxGraphs is the most graphs one call returns. Default: `8`.
	MaxGraphs int `json:"max_graphs,omitempty"`

	// Queue is the number of calls that may wait for a worker; a call over it
	// is answered with a tool error. `0` lets no call wait. Default: `16`.
	Queue *int `json:"queue,omitempty"`

	// Timeout is the default run limit of a call; a call may ask for less.
	// Default: `1h`.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// WorkDir is where the runner keeps each call's files (the code of
	// stata_run_selection, the wrapper do-file and the log) in a directory of
	// the call's own, removed once the result is ready (see KeepLogs). At
	// start, call directories that an ended process left there are removed.
	// Default: a private directory under the system's temporary directory.
	WorkDir string `json:"work_dir,omitempty"`

	// KeepLogs is how long a call's log and do-files are kept after its
	// result is ready; the result says until when. Default: `0`.
	KeepLogs caddy.Duration `json:"keep_logs,omitempty"`

	// AllowedDirs, when set, are the only directories whose do-files
	// stata_run_file may run and which a call may name as working_dir: the
	// path must resolve, symbolic links followed, inside one of them, else
	// the call gets a tool error naming this setting. Each must exist. The
	// Stata code is not confined by this: whoever can call the runner can
	// run Stata, and Stata's shell, as Caddy's user. Default: none, meaning
	// any directory.
	AllowedDirs []string `json:"allowed_dirs,omitempty"`

	// MaxOutput is the most log text returned, in bytes; a longer log keeps
	// its head and tail with a marker in between. Default: `1MiB`.
	MaxOutput int64 `json:"max_output,omitempty"`

	key    string
	runner *runner.Runner
}

// CaddyModule returns the Caddy module information.
func (StataRunner) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.stata_runner",
		New: func() caddy.Module { return new(StataRunner) },
	}
}

// Provision finds or starts the runner for these settings.
func (s *StataRunner) Provision(ctx caddy.Context) error {
	key, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("stata_runner: %w", err)
	}
	s.key = string(key)
	logger := ctx.Logger()
	cfg := runner.Config{
		Stata:       s.Stata,
		Workers:     s.Workers,
		Timeout:     time.Duration(s.Timeout),
		WorkDir:     s.WorkDir,
		KeepLogs:    time.Duration(s.KeepLogs),
		AllowedDirs: s.AllowedDirs,
		MaxOutput:   s.MaxOutput,
		Sessions:    s.Sessions,
		MaxGraphs:   s.MaxGraphs,
		NoGraphs:    s.Graphs != nil && !*s.Graphs,
		Logger:      logger,
	}
	if s.SessionIdle != nil {
		cfg.SessionIdle = time.Duration(*s.SessionIdle)
		if cfg.SessionIdle == 0 {
			cfg.SessionIdle = -1 // the runner's way to say never
		}
	}
	if s.Queue != nil {
		cfg.Queue = *s.Queue
		if cfg.Queue == 0 {
			cfg.Queue = -1 // the runner's way to say that nobody waits
		}
	}
	val, _, err := runners.LoadOrNew(s.key, func() (caddy.Destructor, error) {
		r, err := runner.New(cfg)
		if err != nil {
			return nil, err
		}
		used := r.Config()
		logger.Info("stata runner started", zap.String("stata", r.Stata()), zap.Int("workers", used.Workers),
			zap.Int("sessions", used.Sessions), zap.Duration("session_idle", used.SessionIdle),
			zap.String("work_dir", r.WorkDir()))
		return pooledRunner{r}, nil
	})
	if err != nil {
		return fmt.Errorf("stata_runner: %w", err)
	}
	s.runner = val.(pooledRunner).Runner
	return nil
}

// Validate checks the settings.
func (s *StataRunner) Validate() error {
	switch {
	case s.Workers < 0:
		return fmt.Errorf("stata_runner: workers must be positive")
	case s.Queue != nil && *s.Queue < 0:
		return fmt.Errorf("stata_runner: queue must not be negative")
	case s.Timeout < 0:
		return fmt.Errorf("stata_runner: timeout must be positive")
	case s.MaxOutput < 0:
		return fmt.Errorf("stata_runner: max_output must be positive")
	case s.KeepLogs < 0:
		return fmt.Errorf("stata_runner: keep_logs must not be negative")
	case s.Sessions < 0:
		return fmt.Errorf("stata_runner: sessions must be positive")
	case s.SessionIdle != nil && *s.SessionIdle < 0:
		return fmt.Errorf("stata_runner: session_idle must not be negative")
	case s.MaxGraphs < 0:
		return fmt.Errorf("stata_runner: max_graphs must be positive")
	}
	for _, dir := range s.AllowedDirs {
		if dir == "" {
			return fmt.Errorf("stata_runner: allowed_dirs must not hold an empty path")
		}
	}
	return nil
}

// Cleanup releases this config's hold on the runner. It does not wait: a
// runner no longer used is closed in the background.
func (s *StataRunner) Cleanup() error {
	if s.key == "" {
		return nil
	}
	_, err := runners.Delete(s.key)
	return err
}

// ServeHTTP implements caddyhttp.MiddlewareHandler; it does not call next.
func (s *StataRunner) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	s.runner.ServeHTTP(w, r)
	return nil
}

// pooledRunner lets the usage pool close a runner without blocking Caddy:
// Close waits for Stata processes to exit.
type pooledRunner struct{ *runner.Runner }

// Destruct closes the runner in the background.
func (p pooledRunner) Destruct() error {
	go p.Runner.Close()
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*StataRunner)(nil)
	_ caddy.Validator             = (*StataRunner)(nil)
	_ caddy.CleanerUpper          = (*StataRunner)(nil)
	_ caddyhttp.MiddlewareHandler = (*StataRunner)(nil)
	_ caddyfile.Unmarshaler       = (*StataRunner)(nil)
)
