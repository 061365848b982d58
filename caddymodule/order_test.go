package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// update rewrites the JSON part of the golden files under testdata/adapt
// from the adapter's current output:
//
//	go test -run TestCaddyfileAdapt ./caddymodule -update
//
// A new case is a file name.caddytest holding the Caddyfile, then the line
// ----------; -update fills in the JSON.
var update = flag.Bool("update", false, "rewrite the JSON of the golden files in testdata/adapt")

// caddytestSep is the line that ends the Caddyfile of a .caddytest file and
// starts the JSON it adapts to, as in Caddy's and caddy-l4's adapt tests.
const caddytestSep = "----------"

// readCaddytest reads a golden file of testdata/adapt: the Caddyfile, a line
// of caddytestSep, then the JSON (indented) that the Caddyfile adapts to.
func readCaddytest(t *testing.T, path string) (caddyfile string, wantJSON []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, after, ok := strings.Cut(string(data), "\n"+caddytestSep+"\n")
	if !ok {
		t.Fatalf("%s: no line %q between the Caddyfile and the JSON", path, caddytestSep)
	}
	return before + "\n", []byte(after)
}

// indentJSON returns the JSON in b indented with tabs, with a final newline,
// as the golden files hold it.
func indentJSON(t *testing.T, name string, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(b), "", "\t"); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", name, err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestCaddyfileAdapt adapts the Caddyfile of every golden file in
// testdata/adapt and compares the whole JSON config with the file's. With
// -update it writes the JSON instead.
func TestCaddyfileAdapt(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "adapt", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no golden files in testdata/adapt")
	}
	for _, path := range paths {
		name, ok := strings.CutSuffix(filepath.Base(path), ".caddytest")
		if !ok {
			t.Errorf("%s: the golden files end in .caddytest", path)
			continue
		}
		t.Run(name, func(t *testing.T) {
			input, want := readCaddytest(t, path)
			got := indentJSON(t, "adapted "+path, adapt(t, input))
			if *update {
				out := input + caddytestSep + "\n" + string(got)
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want = indentJSON(t, path, want)
			if !bytes.Equal(got, want) {
				t.Errorf("%s: adapted JSON differs (run the test with -update to accept): %s\ngot:\n%s",
					path, firstDiff(string(got), string(want)), got)
			}
		})
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want string) string {
	g := strings.Split(got, "\n")
	w := strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ": got " + strconv.Quote(gl) + ", want " + strconv.Quote(wl)
		}
	}
	return "no line differs"
}

// adaptGolden adapts the Caddyfile of the golden file testdata/adapt/name.
func adaptGolden(t *testing.T, name string) []byte {
	t.Helper()
	input, _ := readCaddytest(t, filepath.Join("testdata", "adapt", name))
	return adapt(t, input)
}

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

// TestDirectiveOrder checks the order of the handlers that the golden files'
// Caddyfiles adapt to, whatever the order they are written in. The golden
// JSON shows it too; this test keeps it from being accepted by -update.
func TestDirectiveOrder(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{file: "order_reverse_proxy_first.caddytest", want: []string{"mcp_keepalive", "reverse_proxy"}},
		{file: "order_host_and_path_matchers.caddytest", want: []string{"mcp_keepalive", "reverse_proxy"}},
		{file: "order_stata_runner_first.caddytest", want: []string{"mcp_keepalive", "stata_runner"}},
		{file: "order_named_matcher.caddytest", want: []string{"mcp_keepalive", "stata_runner"}},
		{file: "order_all_three_reversed.caddytest", want: []string{"mcp_keepalive", "reverse_proxy", "stata_runner"}},
		// Inside handle the order is sorted too.
		{file: "order_inside_handle.caddytest", want: []string{"mcp_keepalive", "reverse_proxy"}},
		// route keeps the order as written; this is Caddy's rule, and users
		// of route must write mcp_keepalive first themselves.
		{file: "order_inside_route.caddytest", want: []string{"reverse_proxy", "mcp_keepalive"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out := adaptGolden(t, tt.file)
			if got := handlerNames(t, out); !slices.Equal(got, tt.want) {
				t.Errorf("handlers %q, want %q\nadapted: %s", got, tt.want, out)
			}
		})
	}
}

// TestAdaptedKeepAlive checks the mcp_keepalive handler's JSON as adapted
// from a whole Caddyfile: grace 0 stays in the config as an explicit 0.
func TestAdaptedKeepAlive(t *testing.T) {
	out := adaptGolden(t, "keepalive_grace_zero.caddytest")
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
