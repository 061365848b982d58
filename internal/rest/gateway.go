package rest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Version is the client version the gateway announces upstream.
const Version = "0.1.0"

// Gateway is the REST, SSE and WebSocket facade of one upstream MCP server.
// It is safe for concurrent use.
type Gateway struct {
	cfg      Config
	pool     *pool
	tools    toolCache
	stats    stats
	tokens   atomic.Uint64 // the last progress token handed out
	progress sync.Map      // progress token → *call
}

// New returns a gateway for cfg. It opens no upstream session yet: the first
// call does.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if len(cfg.Header) > 0 {
		c := *cfg.HTTPClient
		next := c.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		c.Transport = headerTransport{header: cfg.Header.Clone(), next: next}
		cfg.HTTPClient = &c
	}
	g := &Gateway{cfg: cfg}
	client := mcp.NewClient(&mcp.Implementation{Name: "caddy-stata-mcp-rest", Version: Version}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			g.onProgress(req.Params)
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			g.pool.onLog(req.Session, req.Params)
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			g.tools.invalidate()
		},
	})
	g.pool = newPool(client, cfg)
	return g, nil
}

// Close stops new calls; upstream sessions close once the calls in flight
// have ended. It does not block.
func (g *Gateway) Close() { g.pool.close() }

// ServeHTTP serves the endpoints under the configured prefix; any other path
// gets a JSON 404.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if g.cfg.StripPrefix != "" {
		rest, ok := strings.CutPrefix(path, g.cfg.StripPrefix)
		if !ok || rest != "" && rest[0] != '/' {
			writeError(w, errorf(http.StatusNotFound, codeNotFound, "no endpoint at %s", path))
			return
		}
		path = rest
	}
	switch {
	case path == "/tools":
		if allow(w, r, http.MethodGet) {
			g.serveTools(w, r)
		}
	case path == "/openapi.json":
		if allow(w, r, http.MethodGet) {
			g.serveOpenAPI(w, r)
		}
	case path == "/health":
		if allow(w, r, http.MethodGet) {
			g.serveHealth(w, r)
		}
	case path == "/stats":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, g.currentStats())
		}
	case strings.HasPrefix(path, "/ws/tools/") && len(path) > len("/ws/tools/"):
		if allow(w, r, http.MethodGet) {
			g.serveWebSocket(w, r, strings.TrimPrefix(path, "/ws/tools/"))
		}
	case strings.HasPrefix(path, "/tools/") && strings.HasSuffix(path, "/stream") && len(path) > len("/tools//stream"):
		if allow(w, r, http.MethodPost) {
			g.serveStream(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/tools/"), "/stream"))
		}
	case strings.HasPrefix(path, "/tools/") && len(path) > len("/tools/"):
		if allow(w, r, http.MethodPost) {
			g.serveCall(w, r, strings.TrimPrefix(path, "/tools/"))
		}
	default:
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "no endpoint at %s", r.URL.Path))
	}
}

// allow answers 405 unless r uses method (or HEAD for GET).
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || method == http.MethodGet && r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, errorf(http.StatusMethodNotAllowed, codeMethod, "%s needs %s, not %s", r.URL.Path, method, r.Method))
	return false
}

// currentStats returns what /stats shows.
func (g *Gateway) currentStats() statsBody {
	b := g.stats.snapshot()
	b.Upstream = g.pool.stats()
	return b
}

// toolBody is the JSON shape of one tool in GET /tools.
type toolBody struct {
	Name         string `json:"name"`
	Title        string `json:"title,omitempty"`
	Description  string `json:"description,omitempty"`
	InputSchema  any    `json:"inputSchema"`
	OutputSchema any    `json:"outputSchema,omitempty"`
}

// serveTools answers GET /tools: every tool of the upstream, every page.
func (g *Gateway) serveTools(w http.ResponseWriter, r *http.Request) {
	tools, err := g.listTools(r.Context())
	if err != nil {
		writeError(w, callError(r.Context(), err))
		return
	}
	out := make([]toolBody, 0, len(tools))
	for _, t := range tools {
		out = append(out, toolBody{Name: t.Name, Title: t.Title, Description: t.Description,
			InputSchema: t.InputSchema, OutputSchema: t.OutputSchema})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tools": out})
}

// healthTimeout bounds the ping of GET /health.
const healthTimeout = 10 * time.Second

// serveHealth answers GET /health: 200 when the upstream answers ping, else
// 503 with the cause.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	err := g.withSession(ctx, func(s *session) error { return s.cs.Ping(ctx, nil) })
	ps := g.pool.stats()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "unavailable", "upstream": "error", "cause": fmt.Sprintf("ping: %v", err),
			"sessions": ps.Sessions,
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "upstream": "ok", "sessions": ps.Sessions})
}
