package caddymodule

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestStdioUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  StdioPool
	}{
		{
			name: "command only",
			input: `mcp_stdio {
	command sh
}`,
			want: StdioPool{Command: []string{"sh"}},
		},
		{
			name: "command with arguments and quotes",
			input: `mcp_stdio {
	command sh -c "exec cat -u"
}`,
			want: StdioPool{Command: []string{"sh", "-c", "exec cat -u"}},
		},
		{
			name: "everything",
			input: `mcp_stdio {
	command sh
	env A 1
	env B "two words"
	dir /srv
	min_workers 1
	max_workers 3
	max_inflight 2
	idle_timeout 1m
	health_interval 5s
	health_timeout 2s
	request_timeout 30m
	max_queue 9
}`,
			want: StdioPool{
				Command: []string{"sh"}, Env: map[string]string{"A": "1", "B": "two words"}, Dir: "/srv",
				MinWorkers: 1, MaxWorkers: 3, MaxInflight: 2,
				IdleTimeout: caddy.Duration(time.Minute), HealthInterval: caddy.Duration(5 * time.Second),
				HealthTimeout: caddy.Duration(2 * time.Second), RequestTimeout: caddy.Duration(30 * time.Minute),
				MaxQueue: 9,
			},
		},
		{
			name: "allowed hosts and origins add up",
			input: `mcp_stdio {
	command sh
	allowed_hosts mcp.example.com
	allowed_hosts *.internal.example.com localhost:8080
	allowed_origins https://app.example.com
}`,
			want: StdioPool{Command: []string{"sh"},
				AllowedHosts:   []string{"mcp.example.com", "*.internal.example.com", "localhost:8080"},
				AllowedOrigins: []string{"https://app.example.com"}},
		},
		{
			name: "relative program in dir",
			input: `mcp_stdio {
	command ./sh -c true
	dir /bin
}`,
			want: StdioPool{Command: []string{"./sh", "-c", "true"}, Dir: "/bin"},
		},
		{
			name: "min_workers alone above the default max",
			input: `mcp_stdio {
	command sh
	min_workers 10
}`,
			want: StdioPool{Command: []string{"sh"}, MinWorkers: 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s StdioPool
			if err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s, tt.want) {
				t.Errorf("got  %s\nwant %s", dumpJSON(t, &s), dumpJSON(t, &tt.want))
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestStdioUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name, input, want, line string
	}{
		{"no block", `mcp_stdio`, "command is required", "Testfile:1"},
		{"no command", "mcp_stdio {\n\tmin_workers 1\n}", "command is required", "Testfile:3"},
		{"argument on the directive line", "mcp_stdio foo {\n\tcommand sh\n}", "wrong argument count", "Testfile:1"},
		{"command without program", "mcp_stdio {\n\tcommand\n}", "wrong argument count", "Testfile:2"},
		{"program not found", "mcp_stdio {\n\tcommand /nonexistent/server\n}", "program '/nonexistent/server' not found", "Testfile:2"},
		{"relative program not in dir", "mcp_stdio {\n\tcommand ./server\n\tdir /nonexistent\n}", "program './server' not found", "Testfile:4"},
		{"min over max", "mcp_stdio {\n\tcommand sh\n\tmin_workers 3\n\tmax_workers 2\n}", "min_workers (3) is more than max_workers (2)", "Testfile:5"},
		{"zero workers", "mcp_stdio {\n\tcommand sh\n\tmax_workers 0\n}", "max_workers: need a positive whole number, not '0'", "Testfile:3"},
		{"not a number", "mcp_stdio {\n\tcommand sh\n\tmax_inflight many\n}", "max_inflight: need a positive whole number", "Testfile:3"},
		{"bad duration", "mcp_stdio {\n\tcommand sh\n\tidle_timeout soon\n}", "idle_timeout: invalid duration 'soon'", "Testfile:3"},
		{"zero duration", "mcp_stdio {\n\tcommand sh\n\thealth_interval 0\n}", "health_interval: duration must be positive", "Testfile:3"},
		{"env with one argument", "mcp_stdio {\n\tcommand sh\n\tenv A\n}", "wrong argument count", "Testfile:3"},
		{"env twice", "mcp_stdio {\n\tcommand sh\n\tenv A 1\n\tenv A 2\n}", "env: 'A' given twice", "Testfile:4"},
		{"command twice", "mcp_stdio {\n\tcommand sh\n\tcommand cat\n}", "subdirective 'command' given twice", "Testfile:3"},
		{"allowed_hosts without patterns", "mcp_stdio {\n\tcommand sh\n\tallowed_hosts\n}", "wrong argument count", "Testfile:3"},
		{"star with other hosts", "mcp_stdio {\n\tcommand sh\n\tallowed_hosts * example.com\n}", "allowed_hosts", "Testfile:3"},
		{"unknown subdirective", "mcp_stdio {\n\tcommand sh\n\tworkers 2\n}", "unrecognized subdirective 'workers'", "Testfile:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s StdioPool
			err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			wantErrAt(t, err, tt.want, tt.line)
		})
	}
}

func TestStdioValidateJSON(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"no command", `{}`, "command is required"},
		{"program not found", `{"command":["/nonexistent/server"]}`, "/nonexistent/server"},
		{"min over max", `{"command":["sh"],"min_workers":5,"max_workers":2}`, "min_workers (5) is more than max_workers (2)"},
		{"negative queue", `{"command":["sh"],"max_queue":-1}`, "must not be negative"},
		{"negative duration", `{"command":["sh"],"idle_timeout":"-1s"}`, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s StdioPool
			if err := caddy.StrictUnmarshalJSON([]byte(tt.json), &s); err != nil {
				t.Fatal(err)
			}
			wantErrAt(t, s.Validate(), tt.want)
		})
	}
}

func TestStdioDirectiveAndModule(t *testing.T) {
	h := httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser("mcp_stdio {\n\tcommand sh\n}")}
	mh, err := parseStdioPool(h)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := mh.(*StdioPool); !ok || !slices.Equal(s.Command, []string{"sh"}) {
		t.Fatalf("parseStdioPool gave %#v", mh)
	}
	info, err := caddy.GetModule("http.handlers.mcp_stdio")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.New().(*StdioPool); !ok {
		t.Errorf("New gives %T, want *StdioPool", info.New())
	}
}

// TestStdioDirectiveOrder checks that mcp_keepalive comes before mcp_stdio
// whatever the order they are written in.
func TestStdioDirectiveOrder(t *testing.T) {
	for _, file := range []string{"order_stdio_first.caddytest", "stdio_every_subdirective.caddytest"} {
		out := adaptGolden(t, file)
		got := handlerNames(t, out)
		want := []string{"mcp_stdio"}
		if file == "order_stdio_first.caddytest" {
			want = []string{"mcp_keepalive", "mcp_stdio"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: handlers %q, want %q", file, got, want)
		}
	}
}
