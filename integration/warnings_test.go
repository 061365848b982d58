package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validate runs `caddy-stata validate` on the config text, written to a file
// name in a fresh folder, and returns its combined log and exit code.
func validate(t *testing.T, name, config string) (string, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"validate", "--config", path}
	if !strings.HasSuffix(name, ".json") {
		args = append(args, "--adapter", "caddyfile")
	}
	stdout, stderr, code := runBinary(t, args...)
	return stdout + stderr, code
}

// warnLines returns the log lines at warning level of mcp_keepalive.
func warnLines(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, `"logger":"http.handlers.mcp_keepalive"`) {
			out = append(out, line)
		}
	}
	return out
}

// TestConfigWarnings validates configurations that load but most likely do
// not do what their author meant, through the built binary: each gets its
// warning in `caddy-stata validate`'s output, and still validates; the same
// handler written well gets none.
func TestConfigWarnings(t *testing.T) {
	for _, tt := range []struct {
		name, file, config string
		want               string // "" for no warning
	}{
		{"interval 2m", "Caddyfile", `:8080 {
	mcp_keepalive {
		interval 2m
	}
	reverse_proxy localhost:4000
}
`, `interval 2m0s is a minute or more`},
		{"interval 50ms", "Caddyfile", `:8080 {
	mcp_keepalive {
		interval 50ms
	}
	reverse_proxy localhost:4000
}
`, `interval 50ms is under 100ms`},
		{"grace 60s", "Caddyfile", `:8080 {
	mcp_keepalive {
		grace 60s
	}
	reverse_proxy localhost:4000
}
`, `grace 1m0s is a minute or more`},
		{"keepalive after reverse_proxy in a route", "Caddyfile", `:8080 {
	route {
		reverse_proxy localhost:4000
		mcp_keepalive
	}
}
`, `"msg":"mcp_keepalive is never reached: a handler before it in the same route list answers every request`},
		{"keepalive after respond in a route of a named site", "Caddyfile", `http://localhost:8080 {
	route /mcp {
		respond "maintenance" 503
		mcp_keepalive
		reverse_proxy localhost:4000
	}
}
`, `"answered_by":"static_response"`},
		{"keepalive after stata_runner in a JSON config", "config.json", `{"apps":{"http":{"servers":{"a":{"listen":[":8080"],
			"routes":[{"handle":[{"handler":"stata_runner"},{"handler":"mcp_keepalive"}]}]}}}}}`, `"answered_by":"stata_runner"`},
		{"well placed and within limits", "Caddyfile", `:8080 {
	route {
		mcp_keepalive {
			grace 59s
			interval 100ms
			poll_after 10m
		}
		reverse_proxy localhost:4000
	}
}
`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, code := validate(t, tt.file, tt.config)
			if code != 0 {
				t.Fatalf("validate exited %d, want 0: a warning must not fail the load:\n%s", code, log)
			}
			if !strings.Contains(log, "Valid configuration") {
				t.Fatalf("validate did not say the configuration is valid:\n%s", log)
			}
			warns := warnLines(log)
			if tt.want == "" {
				if len(warns) != 0 {
					t.Fatalf("warnings for a sound configuration:\n%s", strings.Join(warns, "\n"))
				}
				return
			}
			if len(warns) != 1 || !strings.Contains(warns[0], tt.want) {
				t.Fatalf("want exactly one mcp_keepalive warning with %s; the output:\n%s", tt.want, log)
			}
		})
	}
}

// TestConfigErrorsKeepTheirLine validates resume off together with
// poll_after, which cannot work (a client sent away has no stream to come
// back to), in either order: an error that names the file and the line.
func TestConfigErrorsKeepTheirLine(t *testing.T) {
	for _, tt := range []struct {
		name, block string
		line        int
		want        string
	}{
		{"poll_after after resume off", "resume off\n\t\tpoll_after 10s", 4, "poll_after: needs resume, which is off"},
		{"resume off after poll_after", "poll_after 10s\n\t\tresume off", 4, "resume off: poll_after needs resume"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			config := fmt.Sprintf(":8080 {\n\tmcp_keepalive {\n\t\t%s\n\t}\n\treverse_proxy localhost:4000\n}\n", tt.block)
			log, code := validate(t, "Caddyfile", config)
			if code == 0 {
				t.Fatalf("validate accepted resume off with poll_after:\n%s", log)
			}
			if where := fmt.Sprintf("Caddyfile:%d", tt.line); !strings.Contains(log, tt.want) || !strings.Contains(log, where) {
				t.Fatalf("want an error with %q at %s:\n%s", tt.want, where, log)
			}
		})
	}
}

// TestConfigWarningAtRun runs caddy-stata with a misplaced mcp_keepalive:
// the warning is in the log of `run` too, at startup, and the server runs.
func TestConfigWarningAtRun(t *testing.T) {
	port, admin := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
}

http://127.0.0.1:%d {
	route {
		respond "hello"
		mcp_keepalive
	}
}
`, admin, port)
	c := startCaddyfile(t, cfg, fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", admin))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.waitLog(ctx, `"level":"warn"`, "mcp_keepalive is never reached", `"answered_by":"static_response"`); err != nil {
		t.Fatalf("no warning at run: %v", err)
	}
}
