// Package caddymodule is the Caddy glue of caddy-stata: the mcp_keepalive and
// stata_runner HTTP handler modules, their Caddyfile directives, and nothing
// else. The work itself is done by the Caddy-free packages beside it.
package caddymodule

import (
	"github.com/caddy-stata/caddy-stata/internal/keepalive"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/hold"
	"github.com/caddy-stata/caddy-stata/internal/hostcheck"
	"github.com/caddy-stata/caddy-stata/internal/legacy"
	"github.com/caddy-stata/caddy-stata/internal/streams"
	"github.com/caddy-stata/caddy-stata/internal/tasks"
)

func init() {
	caddy.RegisterModule(KeepAlive{})
}

// heldCalls counts the calls held by every mcp_keepalive handler of the
// process, on either transport, and heldStreams keeps their events for
// clients that reconnect. They live at package level so that a config
// reload, which replaces the handlers while their calls are still held,
// loses nothing.
var (
	heldCalls   keepalive.Slots
	heldIndex   = hold.NewIndex()
	heldStreams = streams.New()
	heldTasks   = tasks.NewRegistry()
)

// legacySessions are the open sessions of the legacy HTTP+SSE transport seen
// by every mcp_keepalive handler of the process, kept at package level so
// that a session opened before a config reload keeps its calls alive after.
var legacySessions = legacy.NewRegistry()

// KeepAlive is the mcp_keepalive handler. Placed before reverse_proxy in front
// of an MCP server (Streamable HTTP), it passes every request through
// untouched, except a tools/call that the upstream does not answer within the
// grace period: that one it answers itself with an event stream, keeps alive
// with comments and notifications/progress for the client's progressToken,
// and ends with the upstream's real response, or with a JSON-RPC error if the
// upstream fails. Up to protocol 2025-11-25 a client that goes away does not
// cancel the call, and may resume its stream by GET with Last-Event-ID; from
// 2026-07-28 on, closing the stream cancels the call. Sessions of the legacy
// HTTP+SSE transport get their keep-alives on their GET stream.
//
// Before anything else it checks the request's Host and Origin headers, the
// check against DNS rebinding that an MCP server on localhost can no longer
// do once reverse_proxy sends it its own Host: a request that fails gets 403
// with a JSON-RPC error.
type KeepAlive struct {
	// AllowedHosts are the hosts a request may name in its Host header, and
	// an Origin header in its origin: host name patterns in shell style
	// (`*.example.com`), or IPv6 addresses in brackets (`[::1]`), each
	// optionally with a port (`localhost:8080`; without one, any port).
	// `*` alone allows every host and origin, turning the check off. Given,
	// they apply to every request; otherwise a request that arrived on a
	// loopback address may name only localhost, 127.0.0.1 or [::1], with an
	// Origin of one of them, and any other request may name any host, with
	// an Origin of that same host. Default: none, which allows the loopback
	// names on loopback connections and any host elsewhere.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`

	// AllowedOrigins are further Origin headers a request may carry, as
	// shell-style patterns of the whole origin (`https://*.example.com`,
	// `http://localhost:6274`, `null`); `*` allows any. A request without
	// Origin (every client but a browser) needs none. Default: none.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`

	// Tools are the names of the tools whose calls may be held, as shell-style
	// patterns (`stata_*`). Default: every tool.
	Tools []string `json:"tools,omitempty"`

	// Grace is how long to wait for the upstream's complete answer before
	// switching the call to an event stream; 0 switches at once. An answer
	// within the grace period reaches the client exactly as the upstream sent
	// it. Default: `1s`.
	Grace *caddy.Duration `json:"grace,omitempty"`

	// Interval is the time between keep-alive events on a held call. Keep it
	// well under a minute, the idle timeout of many proxies and of Caddy's own
	// write idle timer. Default: `15s`.
	Interval caddy.Duration `json:"interval,omitempty"`

	// Progress tells whether to send notifications/progress for the client's
	// progressToken on each keep-alive; without a token, or when off, the
	// keep-alive is an SSE comment line. Default: `true`.
	Progress *bool `json:"progress,omitempty"`

	// MaxDuration is the longest a call is held. Past it the upstream call is
	// cancelled and the client gets a JSON-RPC error. Default: `24h`.
	MaxDuration caddy.Duration `json:"max_duration,omitempty"`

	// MaxRequestBody is the largest JSON request body read, in bytes. A larger
	// one is answered 413 with a JSON-RPC error. Default: `4MiB`.
	MaxRequestBody int64 `json:"max_request_body,omitempty"`

	// MaxHeld is the most calls held at once, counted over every mcp_keepalive
	// handler of the process. A call over it is answered 503 with a JSON-RPC
	// error. Default: `10000`.
	MaxHeld int `json:"max_held,omitempty"`

	// Resume is how long the events of a held call are kept, after it ends,
	// for a client whose connection dropped to resume by GET with
	// Last-Event-ID. Events carry ids only when it is on. `0` (`off` in the
	// Caddyfile) turns it off. Default: `30m`.
	Resume *caddy.Duration `json:"resume,omitempty"`

	// PollAfter, when set, closes the connection of a held call after this
	// long for clients at protocol 2025-11-25 or later (sending `retry:`
	// first); they resume by GET, so no intermediary's connection limit is
	// reached. It needs Resume. Default: `0` (never).
	PollAfter caddy.Duration `json:"poll_after,omitempty"`

	// Retry is the reconnection delay sent before such a close.
	// Default: `1s`.
	Retry caddy.Duration `json:"retry,omitempty"`

	// StoreLimit is the most bytes that the events kept for resumption may
	// take, over every mcp_keepalive handler of the process; it is enforced
	// whenever a call of this handler adds events. The oldest finished
	// streams go first; the response of a running call is never dropped for
	// space. Default: `256MiB`.
	StoreLimit int64 `json:"store_limit,omitempty"`

	// SpillDir is the folder where a held call's events go, in a file of
	// their own, once they outgrow SpillAfter in memory. Default: the OS's
	// temporary folder.
	SpillDir string `json:"spill_dir,omitempty"`

	// SpillAfter is how many bytes of events a held call keeps in memory
	// before the rest go to its file in SpillDir. Default: `1MiB`.
	SpillAfter int64 `json:"spill_after,omitempty"`

	// SpillLimit is the most bytes that all the spill files together may
	// hold. Default: `4GiB`.
	SpillLimit int64 `json:"spill_limit,omitempty"`

	// StoreRaw is where held calls' streams are kept for resumption, a
	// module of the namespace mcp_keepalive.stores named by its `backend`
	// key: `memory` keeps them in this process; `redis` also shares them
	// with every instance that uses the same Redis, so that any of them
	// serves any resume and passes any cancel on. Default: `memory`.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=mcp_keepalive.stores inline_key=backend"`

	// Tasks tells whether to offer MCP tasks (protocol 2025-11-25) for held
	// tools: a tools/call with params.task gets a task handle at once,
	// and tasks/get, tasks/result, tasks/list and tasks/cancel are
	// answered here, while the upstream gets an ordinary call. Default: on.
	Tasks *bool `json:"tasks,omitempty"`

	// TaskTTL is the longest a task and its result live, counted from its
	// creation; a client may ask for less, and resume caps it. Default: `1h`.
	TaskTTL caddy.Duration `json:"task_ttl,omitempty"`

	// TaskPoll is the poll interval suggested to task clients. Default: `5s`.
	TaskPoll caddy.Duration `json:"task_poll,omitempty"`

	// MaxTasks is the most tasks a session may have until they expire;
	// over it, a tools/call that asks for a task gets a JSON-RPC error.
	// Default: 100.
	MaxTasks int `json:"max_tasks,omitempty"`

	hosts   *hostcheck.Policy
	core    *hold.Handler
	tracker *legacy.Tracker
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (KeepAlive) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mcp_keepalive",
		New: func() caddy.Module { return new(KeepAlive) },
	}
}

// config returns the engine's configuration: the fields, defaults filled in.
func (k *KeepAlive) config() keepalive.Config {
	cfg := keepalive.DefaultConfig()
	cfg.Tools = k.Tools
	if k.Grace != nil {
		cfg.Grace = time.Duration(*k.Grace)
	}
	if k.Interval != 0 {
		cfg.Interval = time.Duration(k.Interval)
	}
	if k.Progress != nil {
		cfg.Progress = *k.Progress
	}
	if k.MaxDuration != 0 {
		cfg.MaxDuration = time.Duration(k.MaxDuration)
	}
	if k.MaxRequestBody != 0 {
		cfg.MaxRequestBody = k.MaxRequestBody
	}
	if k.MaxHeld != 0 {
		cfg.MaxHeld = k.MaxHeld
	}
	if k.Resume != nil {
		cfg.Resume = time.Duration(*k.Resume)
	}
	cfg.PollAfter = time.Duration(k.PollAfter)
	if k.Retry != 0 {
		cfg.Retry = time.Duration(k.Retry)
	}
	if k.StoreLimit != 0 {
		cfg.StoreLimit = k.StoreLimit
	}
	cfg.SpillDir = k.SpillDir
	if k.SpillAfter != 0 {
		cfg.SpillAfter = k.SpillAfter
	}
	if k.SpillLimit != 0 {
		cfg.SpillLimit = k.SpillLimit
	}
	return cfg
}

// taskConfig returns the configuration of tasks, with defaults.
func (k *KeepAlive) taskConfig() tasks.Config {
	cfg := tasks.Config{TTL: tasks.DefaultTTL, Poll: tasks.DefaultPoll, Max: tasks.DefaultMax}
	if k.TaskTTL > 0 {
		cfg.TTL = time.Duration(k.TaskTTL)
	}
	if k.TaskPoll > 0 {
		cfg.Poll = time.Duration(k.TaskPoll)
	}
	if k.MaxTasks > 0 {
		cfg.Max = k.MaxTasks
	}
	return cfg
}

// Provision sets up the handler.
func (k *KeepAlive) Provision(ctx caddy.Context) error {
	cfg := k.config()
	hosts, err := hostcheck.New(k.AllowedHosts, k.AllowedOrigins)
	if err != nil {
		return fmt.Errorf("mcp_keepalive: %w", err)
	}
	k.hosts = hosts
	k.logger = ctx.Logger()
	for _, w := range cfg.Warnings() {
		k.logger.Warn(w)
	}
	warnMisplaced(ctx, k.logger)
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		if err := registerKeepAliveMetrics(reg); err != nil {
			return fmt.Errorf("mcp_keepalive: registering metrics: %w", err)
		}
	}
	k.core = hold.New(cfg, &heldCalls, heldIndex, heldStreams, ctx.Logger())
	k.core.Observer = metricsObserver{}
	k.core.Detach = detachVars
	if k.Tasks == nil || *k.Tasks {
		k.core.Tasks = &hold.Tasks{Config: k.taskConfig(), Registry: heldTasks, Observer: metricsObserver{}}
	}
	if k.StoreRaw != nil {
		mod, err := ctx.LoadModule(k, "StoreRaw")
		if err != nil {
			return fmt.Errorf("mcp_keepalive: loading store: %w", err)
		}
		store, ok := mod.(StreamStore)
		if !ok {
			return fmt.Errorf("mcp_keepalive: module %T is not a stream store", mod)
		}
		k.core.Mirror, k.core.Remote = store.Backend(cfg.MaxDuration)
	}
	k.tracker = legacy.New(cfg, &heldCalls, legacySessions, ctx.Logger())
	k.tracker.Observer = metricsObserver{}
	return nil
}

// Validate checks the configuration.
func (k *KeepAlive) Validate() error {
	if err := k.config().Validate(); err != nil {
		return fmt.Errorf("mcp_keepalive: %w", err)
	}
	if _, err := hostcheck.New(k.AllowedHosts, k.AllowedOrigins); err != nil {
		return fmt.Errorf("mcp_keepalive: %w", err)
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (k *KeepAlive) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if err := k.hosts.Check(r); err != nil {
		k.refuse(w, r, err)
		return nil
	}
	handled, err := k.tracker.ServeHTTP(w, r, next.ServeHTTP)
	if !handled {
		err = k.core.ServeHTTP(w, r, next.ServeHTTP)
	}
	return mapError(err)
}

// refuse answers a request whose Host or Origin is not allowed, and logs it.
// It is a function of its own so that its log fields take no room in the
// frame of ServeHTTP, which stays on the stack under the whole upstream
// call.
func (k *KeepAlive) refuse(w http.ResponseWriter, r *http.Request, err error) {
	k.logger.Warn("request refused: host or origin not allowed",
		zap.Error(err),
		zap.String("host", r.Host),
		zap.Strings("origin", r.Header.Values("Origin")),
		zap.String("local_addr", localAddr(r)),
		zap.String("remote_addr", r.RemoteAddr),
		zap.String("method", r.Method),
		zap.String("uri", r.RequestURI))
	hostcheck.WriteRefusal(w, err)
}

// localAddr returns the address the request arrived on, or "" if unknown.
func localAddr(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && addr != nil {
		return addr.String()
	}
	return ""
}

// mapError gives an error of the engines the status Caddy answers it with: a
// request body that could not be read is the client's fault (400), and an
// upstream handler that panicked before answering is a bad gateway (502), as
// reverse_proxy would say. Any other error, above all reverse_proxy's own
// caddyhttp.HandlerError passed up from next, is returned as it is, so that
// its status is not overwritten.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*keepalive.RequestBodyError](err); ok {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	if errors.Is(err, keepalive.ErrUpstreamPanic) {
		return caddyhttp.Error(http.StatusBadGateway, err)
	}
	return err
}

// detachVars gives a held call's upstream request its own copy of Caddy's
// per-request variables, which handlers write to after the client's request
// has ended.
func detachVars(r *http.Request) *http.Request {
	vars, ok := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	if !ok {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, maps.Clone(vars)))
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*KeepAlive)(nil)
	_ caddy.Validator             = (*KeepAlive)(nil)
	_ caddyhttp.MiddlewareHandler = (*KeepAlive)(nil)
	_ caddyfile.Unmarshaler       = (*KeepAlive)(nil)
)
