package caddymodule

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// Misplaced mcp_keepalive handlers are found while the configuration is
// provisioned, not in the Caddyfile adapter, so that a JSON configuration is
// checked too, and so that the check sees the route list as Caddy will run
// it (after the Caddyfile's directive sorting and its merging of routes).
//
// The handler's parent in the context's module lineage is the subroute (a
// `route` or `handle` block) or the http app (a site's own routes) whose
// route list holds it. Caddy provisions that list's routes one after
// another, so the routes before the handler's own already hold their handler
// instances and the rest still hold their raw JSON: the check reads both.

// answeringHandlers are the handlers that answer every request that reaches
// them (unless a matcher narrows them) instead of passing it on: a handler
// placed after one of them in the same route list never sees a request.
var answeringHandlers = map[string]bool{
	"reverse_proxy":   true,
	"static_response": true, // respond, abort
	"file_server":     true,
	"error":           true,
	"metrics":         true,
	"acme_server":     true,
	"stata_runner":    true,
	"mcp_rest":        true,
	"mcp_stdio":       true,
}

// checkedRouteLists records the route lists of the configurations being
// loaded or running that one mcp_keepalive has already checked, so that each
// misplacement is reported once, not by every handler of the list. A list is
// keyed by the address of its first route, and forgotten when its
// configuration is unloaded.
var checkedRouteLists sync.Map

// warnMisplaced logs a warning for each mcp_keepalive in the route lists of
// the handler's parent that comes after a handler answering every request:
// such a keep-alive handler is never reached, and long calls are not kept
// alive, which Caddy would otherwise load silently.
func warnMisplaced(ctx caddy.Context, logger *zap.Logger) {
	mods := ctx.Modules()
	if len(mods) < 2 {
		return
	}
	for _, list := range parentRouteLists(mods[len(mods)-2]) {
		key := &list[0]
		if _, done := checkedRouteLists.LoadOrStore(key, true); done {
			continue
		}
		ctx.OnCancel(func() { checkedRouteLists.Delete(key) })
		for _, blocker := range misplaced(viewRoutes(list)) {
			logger.Warn("mcp_keepalive is never reached: a handler before it in the same route list answers every request, so long tool calls are not kept alive; inside a route block Caddy keeps the written order, so put mcp_keepalive first",
				zap.String("answered_by", blocker))
		}
	}
}

// parentRouteLists returns the route lists that parent, a module in whose
// provisioning a handler is provisioned, holds: a subroute's routes, or the
// routes of each server of the http app, in the order of the servers' names.
func parentRouteLists(parent caddy.Module) []caddyhttp.RouteList {
	switch p := parent.(type) {
	case *caddyhttp.Subroute:
		if len(p.Routes) > 0 {
			return []caddyhttp.RouteList{p.Routes}
		}
	case *caddyhttp.App:
		var lists []caddyhttp.RouteList
		for _, name := range slices.Sorted(maps.Keys(p.Servers)) {
			if routes := p.Servers[name].Routes; len(routes) > 0 {
				lists = append(lists, routes)
			}
		}
		return lists
	}
	return nil
}

// routeView is what the check needs of a route: whether a matcher narrows
// it, and its handlers in order.
type routeView struct {
	matched  bool
	handlers []handlerView
}

// handlerView is what the check needs of a handler: its module name, and for
// a subroute, its routes.
type handlerView struct {
	name   string
	routes []routeView
}

// misplaced returns, for each mcp_keepalive of routes that comes after a
// handler answering every request, what answers in its place.
func misplaced(routes []routeView) []string {
	var blocker string
	var found []string
	for _, r := range routes {
		for _, h := range r.handlers {
			if h.name == "mcp_keepalive" && blocker != "" {
				found = append(found, blocker)
			}
			if blocker == "" && !r.matched {
				blocker = answerer(h)
			}
		}
	}
	return found
}

// answerer returns the name of the handler that answers every request
// reaching h, or "" if some pass on: h itself if it is an answering handler,
// or, for a subroute, such a handler in a route that no matcher narrows.
func answerer(h handlerView) string {
	if answeringHandlers[h.name] {
		return h.name
	}
	for _, r := range h.routes {
		if r.matched {
			continue
		}
		for _, inner := range r.handlers {
			if name := answerer(inner); name != "" {
				return name + " in a route or handle block"
			}
		}
	}
	return ""
}

// viewRoutes describes routes, each by its provisioned handlers or, for a
// route not provisioned yet, by its raw JSON.
func viewRoutes(routes caddyhttp.RouteList) []routeView {
	views := make([]routeView, 0, len(routes))
	for _, r := range routes {
		v := routeView{matched: len(r.MatcherSets) > 0 || len(r.MatcherSetsRaw) > 0}
		if len(r.Handlers) > 0 {
			for _, h := range r.Handlers {
				v.handlers = append(v.handlers, viewHandler(h))
			}
		} else {
			for _, raw := range r.HandlersRaw {
				v.handlers = append(v.handlers, viewRawHandler(raw))
			}
		}
		views = append(views, v)
	}
	return views
}

// viewHandler describes a provisioned handler.
func viewHandler(h caddyhttp.MiddlewareHandler) handlerView {
	v := handlerView{}
	if m, ok := h.(caddy.Module); ok {
		v.name = strings.TrimPrefix(string(m.CaddyModule().ID), "http.handlers.")
	}
	if sub, ok := h.(*caddyhttp.Subroute); ok {
		v.routes = viewRoutes(sub.Routes)
	}
	return v
}

// rawHandler is the part of a handler's JSON that the check reads.
type rawHandler struct {
	Handler string `json:"handler"`
	Routes  []struct {
		Match  []json.RawMessage `json:"match"`
		Handle []json.RawMessage `json:"handle"`
	} `json:"routes"`
}

// viewRawHandler describes a handler not provisioned yet by its JSON. JSON
// that does not parse describes a handler of no name, which Caddy refuses
// when it gets to it.
func viewRawHandler(raw json.RawMessage) handlerView {
	var h rawHandler
	if err := json.Unmarshal(raw, &h); err != nil {
		return handlerView{}
	}
	v := handlerView{name: h.Handler}
	if h.Handler != "subroute" {
		return v
	}
	for _, r := range h.Routes {
		rv := routeView{matched: len(r.Match) > 0}
		for _, raw := range r.Handle {
			rv.handlers = append(rv.handlers, viewRawHandler(raw))
		}
		v.routes = append(v.routes, rv)
	}
	return v
}
