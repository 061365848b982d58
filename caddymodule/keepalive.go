// Package caddymodule is the Caddy glue of caddy-stata: the mcp_keepalive and
// stata_runner HTTP handler modules, their Caddyfile directives, and nothing
// else. The work itself is done by the Caddy-free packages beside it.
package caddymodule

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stata/caddy-stata/caddymodule/hold"
)

func init() {
	caddy.RegisterModule(KeepAlive{})
}

// heldCalls counts the calls held by every mcp_keepalive handler of the
// process. It lives at package level so that a config reload, which replaces
// the handlers while their calls are still held, does not reset it.
var heldCalls atomic.Int64

// KeepAlive is the mcp_keepalive handler. Placed before reverse_proxy in front
// of an MCP server (Streamable HTTP), it passes every request through
// untouched, except a tools/call that the upstream does not answer within the
// grace period: that one it answers itself with an event stream, keeps alive
// with comments and notifications/progress for the client's progressToken,
// and ends with the upstream's real response, or with a JSON-RPC error if the
// upstream fails. A client that goes away does not cancel the upstream call.
type KeepAlive struct {
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

	core *hold.Handler
}

// CaddyModule returns the Caddy module information.
func (KeepAlive) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mcp_keepalive",
		New: func() caddy.Module { return new(KeepAlive) },
	}
}

// config returns the engine's configuration: the fields, defaults filled in.
func (k *KeepAlive) config() hold.Config {
	cfg := hold.DefaultConfig()
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
	return cfg
}

// Provision sets up the handler.
func (k *KeepAlive) Provision(ctx caddy.Context) error {
	k.core = hold.New(k.config(), &heldCalls, ctx.Logger())
	k.core.Detach = detachVars
	return nil
}

// Validate checks the configuration.
func (k *KeepAlive) Validate() error {
	if err := k.config().Validate(); err != nil {
		return fmt.Errorf("mcp_keepalive: %w", err)
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (k *KeepAlive) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if err := k.core.ServeHTTP(w, r, next.ServeHTTP); err != nil {
		if _, ok := err.(caddyhttp.HandlerError); ok {
			return err
		}
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	return nil
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
