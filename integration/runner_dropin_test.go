package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadExample returns the README's example file examples/name with each
// old string replaced by its new one, failing the test when one is missing,
// so that the example cannot drift away from what the test runs.
func loadExample(t *testing.T, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("examples/%s lacks %q", name, replace[i])
		}
		s = strings.ReplaceAll(s, replace[i], replace[i+1])
	}
	return s
}

// startDropInExample runs caddy-stata with an example Caddyfile, given its own
// admin address, and returns it; url is the site the test calls.
func startDropInExample(t *testing.T, cfg, url string) *caddy {
	t.Helper()
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	global := fmt.Sprintf("{\n\tadmin %s\n\tpersist_config off\n}\n\n", admin)
	return startCaddyfile(t, global+cfg, url, admin)
}

// TestStataMCPDropIn runs the README's two ways to come from stata-mcp:
// examples/stata-runner.Caddyfile (stata_runner where stata-mcp was, with
// the stand-in as Stata) answers stata-mcp's tools and argument names at
// /mcp-streamable and keeps state between calls; and
// examples/stata-mcp-keepalive.Caddyfile, with that runner standing in for
// stata-mcp on the upstream port, passes the same calls through.
func TestStataMCPDropIn(t *testing.T) {
	runnerPort := freePort(t)
	runner := startDropInExample(t, loadExample(t, "stata-runner.Caddyfile",
		"http://:4000", fmt.Sprintf("http://:%d", runnerPort),
		"stata /usr/local/stata18/stata-mp", "stata "+standin+"\n\t\twork_dir "+t.TempDir(),
	), fmt.Sprintf("http://127.0.0.1:%d", runnerPort))

	frontPort := freePort(t)
	front := startDropInExample(t, loadExample(t, "stata-mcp-keepalive.Caddyfile",
		"http://:8080", fmt.Sprintf("http://:%d", frontPort),
		"localhost:4000", fmt.Sprintf("localhost:%d", runnerPort),
	), fmt.Sprintf("http://127.0.0.1:%d", frontPort))

	dir := t.TempDir()
	doFile := filepath.Join(dir, "analysis.do")
	if err := os.WriteFile(doFile, []byte("count\nsummarize price\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, url := range map[string]string{
		"stata_runner":                 runner.URL + "/mcp-streamable",
		"mcp_keepalive in front of it": front.URL + "/mcp-streamable",
	} {
		t.Run(name, func(t *testing.T) {
			r := sessionCalls(t, url, true,
				sessionStep{Tool: "stata_run_selection", Args: map[string]any{"selection": "sysuse auto", "working_dir": dir, "session_id": "default"}},
				sessionStep{Tool: "stata_run_file", Args: map[string]any{"file_path": doFile, "timeout": 600, "session_id": "default"}},
				sessionStep{Tool: "stata_session", Args: map[string]any{"action": "list", "session_id": "default"}},
			)
			for i, res := range r {
				mustRun(t, fmt.Sprintf("step %d", i), res)
			}
			if n := counted(r[1].Text()); n != 74 || !strings.Contains(r[1].Text(), "summarize price") {
				t.Fatalf("the do-file does not see the data the selection loaded (count %d):\n%s", n, r[1].Text())
			}
			if !strings.Contains(r[2].Text(), "74 observations") {
				t.Errorf("stata_session list:\n%s", r[2].Text())
			}
		})
	}
}
