package caddymodule

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// adapt adapts a Caddyfile to JSON with the caddyfile adapter, as
// `caddy adapt` does, and fails the test on any error or warning.
func adapt(t *testing.T, input string) []byte {
	t.Helper()
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("no caddyfile adapter registered")
	}
	out, warnings, err := adapter.Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting:\n%s\n%v", input, err)
	}
	for _, w := range warnings {
		t.Errorf("warning: %s", w.String())
	}
	return out
}

// handlers returns the handler objects of an adapted config, in the order a
// request meets them: a depth-first walk in which each array keeps its order.
func handlers(t *testing.T, adapted []byte) []map[string]any {
	t.Helper()
	var cfg any
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	var found []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["handler"].(string); ok {
				found = append(found, v)
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(v[k])
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(cfg)
	return found
}

// handlerNames returns the names of handlers(adapted) except the subroutes
// Caddy wraps sites in.
func handlerNames(t *testing.T, adapted []byte) []string {
	t.Helper()
	var names []string
	for _, h := range handlers(t, adapted) {
		if name := h["handler"].(string); name != "subroute" {
			names = append(names, name)
		}
	}
	return names
}

func TestDirectiveOrder(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{
			name: "reverse_proxy written before mcp_keepalive",
			input: `:8080 {
	reverse_proxy localhost:4000
	mcp_keepalive
}
`,
			want: []string{"mcp_keepalive", "reverse_proxy"},
		},
		{
			name: "with a host and path matchers and a block",
			input: `http://localhost:8080 {
	reverse_proxy /mcp localhost:4000 {
		header_up Host {upstream_hostport}
	}
	mcp_keepalive /mcp {
		grace 0
		tools stata_*
	}
}
`,
			want: []string{"mcp_keepalive", "reverse_proxy"},
		},
		{
			name: "stata_runner written before mcp_keepalive",
			input: `:4000 {
	stata_runner
	mcp_keepalive
}
`,
			want: []string{"mcp_keepalive", "stata_runner"},
		},
		{
			name: "stata_runner with a named matcher",
			input: `:4000 {
	@mcp path /mcp
	stata_runner @mcp {
		workers 2
	}
	mcp_keepalive @mcp {
		interval 5s
	}
}
`,
			want: []string{"mcp_keepalive", "stata_runner"},
		},
		{
			name: "all three in reverse",
			input: `:4000 {
	stata_runner /run
	reverse_proxy /mcp localhost:4001
	mcp_keepalive
}
`,
			want: []string{"mcp_keepalive", "reverse_proxy", "stata_runner"},
		},
		{
			name: "inside handle the order is sorted too",
			input: `:4000 {
	handle /mcp {
		reverse_proxy localhost:4001
		mcp_keepalive
	}
}
`,
			want: []string{"mcp_keepalive", "reverse_proxy"},
		},
		{
			// route keeps the order as written; this is Caddy's rule, and
			// users of route must write mcp_keepalive first themselves.
			name: "inside route the order is as written",
			input: `:4000 {
	route {
		reverse_proxy localhost:4001
		mcp_keepalive
	}
}
`,
			want: []string{"reverse_proxy", "mcp_keepalive"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := adapt(t, tt.input)
			if got := handlerNames(t, out); !slices.Equal(got, tt.want) {
				t.Errorf("handlers %q, want %q\nadapted: %s", got, tt.want, out)
			}
		})
	}
}

// TestAdaptedKeepAlive checks the mcp_keepalive handler's JSON as adapted
// from a whole Caddyfile: grace 0 stays in the config as an explicit 0.
func TestAdaptedKeepAlive(t *testing.T) {
	out := adapt(t, `:8080 {
	reverse_proxy localhost:4000
	mcp_keepalive {
		grace 0
		tools stata_* other
		max_request_body 512KB
	}
}
`)
	var raw json.RawMessage
	for _, h := range handlers(t, out) {
		if h["handler"] == "mcp_keepalive" {
			delete(h, "handler")
			b, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			raw = b
		}
	}
	if raw == nil {
		t.Fatalf("no mcp_keepalive handler in %s", out)
	}
	const want = `{"grace":0,"max_request_body":512000,"tools":["stata_*","other"]}`
	if string(raw) != want {
		t.Errorf("mcp_keepalive JSON %s, want %s", raw, want)
	}
	var k KeepAlive
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	if cfg := k.config(); cfg.Grace != 0 {
		t.Errorf("grace %v after adapting, want 0", cfg.Grace)
	}
}
