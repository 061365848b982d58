package caddymodule

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestMCPRestUnmarshalCaddyfile(t *testing.T) {
	const up = "http://127.0.0.1:4000/mcp"
	tests := []struct {
		name  string
		input string
		want  MCPRest
	}{
		{
			name: "upstream only",
			input: `mcp_rest {
	upstream http://127.0.0.1:4000/mcp
}`,
			want: MCPRest{Upstream: up},
		},
		{
			name: "every subdirective",
			input: `mcp_rest {
	upstream https://mcp.example.com/mcp
	header_up Authorization "Bearer abc"
	header_up X-Team stats
	header_up X-Team econ
	strip_prefix /api
	timeout 2h
	interval 5s
	max_request_body 1MiB
}`,
			want: MCPRest{
				Upstream:    "https://mcp.example.com/mcp",
				HeaderUp:    http.Header{"Authorization": {"Bearer abc"}, "X-Team": {"stats", "econ"}},
				StripPrefix: "/api", Timeout: caddy.Duration(2 * time.Hour),
				Interval: caddy.Duration(5 * time.Second), MaxRequestBody: 1 << 20,
			},
		},
		{
			name: "placeholder upstream",
			input: `mcp_rest {
	upstream {env.MCP_URL}
}`,
			want: MCPRest{Upstream: "{env.MCP_URL}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got MCPRest
			if err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %s\nwant %s", dumpJSON(t, &got), dumpJSON(t, &tt.want))
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestMCPRestUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name, input string
		want        []string
		line        string
	}{
		{"argument on the directive line", "mcp_rest /api {\n\tupstream http://x/mcp\n}", []string{"wrong argument count"}, "Testfile:1"},
		{"no upstream", "mcp_rest {\n\ttimeout 1h\n}", []string{"upstream subdirective is required"}, "Testfile"},
		{"bare directive", "mcp_rest", []string{"upstream subdirective is required"}, "Testfile"},
		{"unknown subdirective", "mcp_rest {\n\tupstream http://x/mcp\n\tbogus 1\n}", []string{"unrecognized subdirective", "'bogus'"}, "Testfile:3"},
		{"upstream twice", "mcp_rest {\n\tupstream http://x/mcp\n\tupstream http://y/mcp\n}", []string{"subdirective 'upstream' given twice"}, "Testfile:3"},
		{"upstream not http", "mcp_rest {\n\tupstream 127.0.0.1:4000\n}", []string{"need an http:// or https:// URL"}, "Testfile:2"},
		{"upstream missing", "mcp_rest {\n\tupstream\n}", []string{"wrong argument count"}, "Testfile:2"},
		{"header_up one argument", "mcp_rest {\n\tupstream http://x/mcp\n\theader_up Authorization\n}", []string{"wrong argument count"}, "Testfile:3"},
		{"header_up three arguments", "mcp_rest {\n\tupstream http://x/mcp\n\theader_up A b c\n}", []string{"wrong argument count"}, "Testfile:3"},
		{"strip_prefix relative", "mcp_rest {\n\tupstream http://x/mcp\n\tstrip_prefix api\n}", []string{"strip_prefix", "begins with '/'"}, "Testfile:3"},
		{"timeout zero", "mcp_rest {\n\tupstream http://x/mcp\n\ttimeout 0\n}", []string{"timeout: duration must be positive"}, "Testfile:3"},
		{"interval bad", "mcp_rest {\n\tupstream http://x/mcp\n\tinterval soon\n}", []string{"interval: invalid duration"}, "Testfile:3"},
		{"max_request_body bad", "mcp_rest {\n\tupstream http://x/mcp\n\tmax_request_body lots\n}", []string{"max_request_body: invalid size"}, "Testfile:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m MCPRest
			err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			wantErrAt(t, err, append(tt.want, tt.line)...)
		})
	}
}

// TestMCPRestDirective checks the function registered for the directive.
func TestMCPRestDirective(t *testing.T) {
	h := httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser("mcp_rest {\n\tupstream http://x/mcp\n}")}
	mh, err := parseMCPRest(h)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := mh.(*MCPRest); !ok || m.Upstream != "http://x/mcp" {
		t.Fatalf("parseMCPRest gave %#v", mh)
	}
}

// TestMCPRestValidate checks what Validate refuses in a JSON config.
func TestMCPRestValidate(t *testing.T) {
	for _, raw := range []string{
		`{}`,
		`{"upstream":"http://x/mcp","timeout":-1}`,
		`{"upstream":"http://x/mcp","interval":-1}`,
		`{"upstream":"http://x/mcp","max_request_body":-1}`,
	} {
		var m MCPRest
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatal(err)
		}
		if m.Validate() == nil {
			t.Errorf("%s passed", raw)
		}
	}
}

// TestMCPRestOrder checks that mcp_rest, written first, comes after respond
// (so that the README's API-key check runs before it) and after
// mcp_keepalive and reverse_proxy.
func TestMCPRestOrder(t *testing.T) {
	out := adaptGolden(t, "rest_order_after_respond.caddytest")
	want := []string{"static_response", "mcp_keepalive", "reverse_proxy", "mcp_rest"}
	if got := handlerNames(t, out); !slices.Equal(got, want) {
		t.Errorf("handlers %q, want %q\nadapted: %s", got, want, out)
	}
}
