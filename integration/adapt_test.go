package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// update rewrites the golden files under testdata from the current output:
//
//	go test -run Adapt ./integration/ -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// runBinary runs the caddy-stata binary with args in a private home and
// returns its standard output and error and its exit code.
func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home, "XDG_CONFIG_HOME="+home)
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running %s: %v", cmd, err)
	}
	return out.String(), errOut.String(), code
}

func TestListModules(t *testing.T) {
	stdout, stderr, code := runBinary(t, "list-modules")
	if code != 0 {
		t.Fatalf("list-modules exited %d:\n%s", code, stderr)
	}
	lines := map[string]bool{}
	for line := range strings.Lines(stdout) {
		lines[strings.TrimSpace(line)] = true
	}
	for _, id := range []string{
		"http.handlers.mcp_keepalive",
		"http.handlers.stata_runner",
		"http.handlers.mcp_stdio",
		"http.handlers.reverse_proxy", // the standard modules are in too
	} {
		if !lines[id] {
			t.Errorf("list-modules does not list %s:\n%s", id, stdout)
		}
	}
}

// TestAdaptExample adapts the Caddyfile the README points to and compares the
// JSON, pretty-printed, with testdata/Caddyfile.example.json.
func TestAdaptExample(t *testing.T) {
	const golden = "testdata/Caddyfile.example.json"
	stdout, stderr, code := runBinary(t, "adapt", "--config", "../Caddyfile.example")
	if code != 0 {
		t.Fatalf("adapt exited %d:\n%s", code, stderr)
	}
	// The example is what users copy: it must adapt without warnings, such
	// as the one for a Caddyfile that caddy fmt would change.
	if strings.Contains(stderr, `"level":"warn"`) {
		t.Errorf("adapt warned:\n%s", stderr)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, bytes.TrimSpace([]byte(stdout)), "", "\t"); err != nil {
		t.Fatalf("adapt output is not JSON: %v\n%s", err, stdout)
	}
	pretty.WriteByte('\n')
	got := pretty.Bytes()

	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", golden)
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("adapted ../Caddyfile.example differs from %s (run the test with -update to accept): %s\ngot:\n%s",
			golden, firstDiff(string(got), string(want)), got)
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

// TestAdaptBadCaddyfile adapts broken Caddyfiles: the binary must exit
// non-zero with a message that names the file and the line.
func TestAdaptBadCaddyfile(t *testing.T) {
	tests := []struct {
		name     string
		caddy    string
		line     int
		want     string
		validate bool
	}{
		{
			name: "unknown mcp_keepalive subdirective",
			caddy: `:8080 {
	mcp_keepalive {
		grace 1s
		bogus 1
	}
	reverse_proxy localhost:4000
}
`,
			line: 4,
			want: "unrecognized subdirective 'bogus'",
		},
		{
			name: "bad mcp_keepalive duration",
			caddy: `:8080 {
	reverse_proxy localhost:4000
	mcp_keepalive {
		tools stata_*
		grace soon
	}
}
`,
			line: 5,
			want: "grace: invalid duration 'soon'",
		},
		{
			name: "zero mcp_keepalive interval",
			caddy: `:8080 {
	mcp_keepalive {
		interval 0
	}
}
`,
			line: 3,
			want: "interval: duration must be positive",
		},
		{
			name: "argument on the mcp_keepalive line",
			caddy: `:8080 {
	mcp_keepalive /mcp extra
}
`,
			line: 2,
			want: "wrong argument count",
		},
		{
			name: "unknown stata_runner subdirective",
			caddy: `:4000 {
	stata_runner /mcp {
		workers 1
		licence abc
	}
}
`,
			line: 4,
			want: "unrecognized subdirective 'licence'",
		},
		{
			name: "bad stata_runner timeout",
			caddy: `:4000 {
	stata_runner {
		timeout 1 hour
	}
}
`,
			line: 3,
			want: "wrong argument count",
		},
		{
			name: "bad stata_runner duration",
			caddy: `:4000 {
	stata_runner {
		timeout an-hour
	}
}
`,
			line: 3,
			want: "timeout: invalid duration 'an-hour'",
		},
		{
			name: "mcp_keepalive subdirective given twice",
			caddy: `:8080 {
	mcp_keepalive {
		tools stata_*
		grace 1s
		tools other
		grace 0
	}
	reverse_proxy localhost:4000
}
`,
			line: 6,
			want: "subdirective 'grace' given twice",
		},
		{
			name: "bad mcp_keepalive spill size",
			caddy: `:8080 {
	mcp_keepalive {
		spill_dir /var/cache/caddy-stata
		spill_after 1MiB
		spill_limit lots
	}
	reverse_proxy localhost:4000
}
`,
			line: 5,
			want: "spill_limit: invalid size 'lots'",
		},
		{
			name: "allowed_hosts * with allowed_origins",
			caddy: `:8080 {
	mcp_keepalive {
		allowed_origins https://app.example.com
		allowed_hosts *
	}
	reverse_proxy localhost:4000
}
`,
			line: 4,
			want: "'*' turns the check off",
		},
		{
			name: "stata_runner subdirective given twice",
			caddy: `:4000 {
	stata_runner {
		workers 1
		timeout 1h
		workers 2
	}
}
`,
			line: 5,
			want: "subdirective 'workers' given twice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(path, []byte(tt.caddy), 0o644); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := runBinary(t, "adapt", "--config", path)
			if code == 0 {
				t.Fatalf("adapt exited 0 for:\n%s", tt.caddy)
			}
			at := path + ":" + strconv.Itoa(tt.line)
			for _, want := range []string{tt.want, at} {
				if !strings.Contains(stderr, want) {
					t.Errorf("adapt's error does not contain %q:\n%s", want, stderr)
				}
			}
		})
	}
}

// TestAdaptBadGlob adapts a Caddyfile whose tool pattern is not a valid
// glob: adapting fails at once, naming the pattern, the file and the line.
func TestAdaptBadGlob(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Caddyfile")
	caddy := `{
	admin off
	auto_https off
}

:8080 {
	mcp_keepalive {
		tools stata_* [
	}
	reverse_proxy localhost:4000
}
`
	if err := os.WriteFile(path, []byte(caddy), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runBinary(t, "adapt", "--config", path)
	if code == 0 {
		t.Fatal("adapt exited 0 for the tool pattern [")
	}
	for _, want := range []string{"bad pattern", "syntax error in pattern", path + ":8"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("adapt's error does not contain %q:\n%s", want, stderr)
		}
	}
}
