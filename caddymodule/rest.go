package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stata/caddy-stata/internal/rest"
)

func init() {
	caddy.RegisterModule(MCPRest{})
}

// gateways holds the running REST gateways by their settings, so that a
// config reload that keeps an mcp_rest's settings keeps its upstream
// sessions and stats.
var gateways = caddy.NewUsagePool()

// MCPRest is the mcp_rest handler: the tools of an MCP server offered as
// REST, server-sent events and WebSocket endpoints (GET /tools,
// GET /openapi.json, POST /tools/{name}, POST /tools/{name}/stream,
// GET /ws/tools/{name}, GET /health, GET /stats) to programs that do not
// speak MCP. It is itself an MCP client of the upstream, and ends the
// handler chain. Authentication is left to Caddy's matchers in front of it.
type MCPRest struct {
	// Upstream is the URL of the MCP server: a Streamable HTTP endpoint, or
	// a legacy HTTP+SSE endpoint (found out when the upstream refuses
	// Streamable HTTP). It may be a site of the same Caddy. Required.
	// Global placeholders such as `{env.MCP_URL}` are replaced.
	Upstream string `json:"upstream,omitempty"`

	// HeaderUp holds headers sent with every upstream request, such as an
	// Authorization bearer token. Global placeholders in values are
	// replaced. Default: none.
	HeaderUp http.Header `json:"header_up,omitempty"`

	// StripPrefix is the path prefix the endpoints live under, so that
	// `route /api/* { mcp_rest { strip_prefix /api } }` serves /api/tools.
	// Default: none.
	StripPrefix string `json:"strip_prefix,omitempty"`

	// Timeout is the longest a call may run; then it is cancelled upstream.
	// Default: `1h`.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Interval is how often a stream or WebSocket call gets a keep-alive
	// (an SSE comment, and invented progress while the upstream sends none).
	// Default: `15s`.
	Interval caddy.Duration `json:"interval,omitempty"`

	// MaxRequestBody is the largest request body (or WebSocket message), in
	// bytes; a larger one gets 413. Default: `4MiB`.
	MaxRequestBody int64 `json:"max_request_body,omitempty"`

	key     string
	gateway *rest.Gateway
}

// CaddyModule returns the Caddy module information.
func (MCPRest) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mcp_rest",
		New: func() caddy.Module { return new(MCPRest) },
	}
}

// Provision finds or starts the gateway for these settings.
func (m *MCPRest) Provision(ctx caddy.Context) error {
	key, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("mcp_rest: %w", err)
	}
	m.key = string(key)
	repl := caddy.NewReplacer()
	cfg := rest.Config{
		Upstream:       repl.ReplaceAll(m.Upstream, ""),
		StripPrefix:    m.StripPrefix,
		Timeout:        time.Duration(m.Timeout),
		Interval:       time.Duration(m.Interval),
		MaxRequestBody: m.MaxRequestBody,
		Logger:         ctx.Logger(),
	}
	if len(m.HeaderUp) > 0 {
		cfg.Header = http.Header{}
		for name, values := range m.HeaderUp {
			for _, v := range values {
				cfg.Header.Add(name, repl.ReplaceAll(v, ""))
			}
		}
	}
	val, _, err := gateways.LoadOrNew(m.key, func() (caddy.Destructor, error) {
		g, err := rest.New(cfg)
		if err != nil {
			return nil, err
		}
		return pooledGateway{g}, nil
	})
	if err != nil {
		return fmt.Errorf("mcp_rest: %w", err)
	}
	m.gateway = val.(pooledGateway).Gateway
	return nil
}

// Validate checks the settings.
func (m *MCPRest) Validate() error {
	switch {
	case m.Upstream == "":
		return fmt.Errorf("mcp_rest: upstream is required")
	case m.Timeout < 0:
		return fmt.Errorf("mcp_rest: timeout must be positive")
	case m.Interval < 0:
		return fmt.Errorf("mcp_rest: interval must be positive")
	case m.MaxRequestBody < 0:
		return fmt.Errorf("mcp_rest: max_request_body must be positive")
	}
	return nil
}

// Cleanup releases this config's hold on the gateway. It does not wait: the
// upstream sessions of a gateway no longer used close when its last call
// ends.
func (m *MCPRest) Cleanup() error {
	if m.key == "" {
		return nil
	}
	_, err := gateways.Delete(m.key)
	return err
}

// ServeHTTP implements caddyhttp.MiddlewareHandler; it does not call next.
func (m *MCPRest) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	m.gateway.ServeHTTP(w, r)
	return nil
}

// pooledGateway lets the usage pool close a gateway.
type pooledGateway struct{ *rest.Gateway }

// Destruct closes the gateway without blocking.
func (p pooledGateway) Destruct() error {
	p.Gateway.Close()
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*MCPRest)(nil)
	_ caddy.Validator             = (*MCPRest)(nil)
	_ caddy.CleanerUpper          = (*MCPRest)(nil)
	_ caddyhttp.MiddlewareHandler = (*MCPRest)(nil)
	_ caddyfile.Unmarshaler       = (*MCPRest)(nil)
)
