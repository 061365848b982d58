package caddymodule

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// misplacedIn adapts the Caddyfile of one site and returns what the order
// check finds in every route list of it, nested ones included, all read from
// the raw JSON as Caddy holds it before provisioning.
func misplacedIn(t *testing.T, site string) []string {
	t.Helper()
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(site), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, site)
	}
	var parsed struct {
		Apps struct {
			HTTP caddyhttp.App `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &parsed); err != nil {
		t.Fatal(err)
	}
	var found []string
	var walk func([]routeView)
	walk = func(routes []routeView) {
		found = append(found, misplaced(routes)...)
		for _, r := range routes {
			for _, h := range r.handlers {
				walk(h.routes)
			}
		}
	}
	for _, srv := range parsed.Apps.HTTP.Servers {
		walk(viewRoutes(srv.Routes))
	}
	return found
}

// TestMisplacedKeepAlive checks which orders of handlers the provisioning
// warning reports: an mcp_keepalive after a handler that answers every
// request, in a route block or a site, and nothing for the orders that work.
func TestMisplacedKeepAlive(t *testing.T) {
	for _, tt := range []struct {
		name, site string
		want       []string
	}{
		{"route, keepalive after reverse_proxy", `http://localhost:8080 {
	route {
		reverse_proxy localhost:4000
		mcp_keepalive
	}
}`, []string{"reverse_proxy"}},
		{"route, keepalive after respond", `http://localhost:8080 {
	route {
		respond "busy"
		mcp_keepalive
		reverse_proxy localhost:4000
	}
}`, []string{"static_response"}},
		{"route, keepalive after stata_runner", `http://localhost:8080 {
	route {
		stata_runner
		mcp_keepalive
	}
}`, []string{"stata_runner"}},
		{"site, a handle block answers everything first", `:8080 {
	handle {
		reverse_proxy localhost:4000
	}
	mcp_keepalive
}`, []string{"reverse_proxy in a route or handle block"}},
		{"route, keepalive first", `http://localhost:8080 {
	route {
		mcp_keepalive
		reverse_proxy localhost:4000
	}
}`, nil},
		{"site, the directive order puts keepalive first", `:8080 {
	reverse_proxy localhost:4000
	mcp_keepalive
}`, nil},
		{"site, a matched respond before keepalive (the token check)", `:8080 {
	@unauthorized not header Authorization "Bearer x"
	respond @unauthorized 401
	mcp_keepalive
	reverse_proxy localhost:4000
}`, nil},
		{"route, a matched reverse_proxy before keepalive", `:8080 {
	route {
		reverse_proxy /other/* localhost:5000
		mcp_keepalive
		reverse_proxy localhost:4000
	}
}`, nil},
		{"site, a handle block with a path before keepalive", `:8080 {
	handle /health {
		respond "ok"
	}
	mcp_keepalive
	reverse_proxy localhost:4000
}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := misplacedIn(t, tt.site); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
