package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// conformanceCheck is one check of a scenario, as the suite writes it to
// checks.json.
type conformanceCheck struct {
	ID           string `json:"id"`
	Status       string `json:"status"` // SUCCESS, FAILURE, WARNING, INFO, SKIPPED
	ErrorMessage string `json:"errorMessage"`
}

// scenarioResult is what one server scenario of the suite found.
type scenarioResult struct {
	Checks []conformanceCheck
}

// passed reports whether the scenario has a check that succeeded and none
// that failed.
func (r scenarioResult) passed() bool {
	ok := false
	for _, c := range r.Checks {
		switch c.Status {
		case "FAILURE":
			return false
		case "SUCCESS":
			ok = true
		}
	}
	return ok
}

// counts renders the scenario's checks as "PASS 2/2" or "FAIL 1/2".
func (r scenarioResult) String() string {
	var ok, failed int
	for _, c := range r.Checks {
		switch c.Status {
		case "SUCCESS":
			ok++
		case "FAILURE":
			failed++
		}
	}
	verdict := "FAIL"
	if r.passed() {
		verdict = "pass"
	}
	return fmt.Sprintf("%s %d/%d", verdict, ok, ok+failed)
}

// failures lists the failed checks and their messages.
func (r scenarioResult) failures() string {
	var b []string
	for _, c := range r.Checks {
		if c.Status == "FAILURE" {
			b = append(b, c.ID+": "+c.ErrorMessage)
		}
	}
	return strings.Join(b, "; ")
}

// resultDir is the name the suite gives a server scenario's results:
// server-<scenario>-<timestamp>.
var resultDir = regexp.MustCompile(`^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$`)

// runConformance runs every server scenario of @modelcontextprotocol/conformance
// (the "all" suite, pending ones included) against the MCP endpoint url,
// and returns each scenario's checks.
func runConformance(t *testing.T, url string) map[string]scenarioResult {
	t.Helper()
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node",
		filepath.Join(tsDir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js"),
		"server", "--url", url, "--suite", "all", "--output-dir", out)
	cmd.Dir = t.TempDir() // the suite writes nothing else, but not into the source tree
	var output lockedBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	// The suite exits 1 when any scenario fails; its results say which.
	if err := cmd.Run(); err != nil && ctx.Err() != nil {
		t.Fatalf("the conformance suite did not finish: %v\n%s", err, output.String())
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]scenarioResult{}
	for _, e := range entries {
		m := resultDir.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(out, e.Name(), "checks.json"))
		if err != nil {
			t.Fatalf("scenario %s: %v\n%s", m[1], err, output.String())
		}
		var r scenarioResult
		if err := json.Unmarshal(b, &r.Checks); err != nil {
			t.Fatalf("scenario %s: checks.json: %v", m[1], err)
		}
		results[m[1]] = r
	}
	if len(results) == 0 {
		t.Fatalf("the conformance suite wrote no results:\n%s", output.String())
	}
	return results
}

// TestConformance runs the conformance suite's server scenarios straight at
// two real servers, @modelcontextprotocol/server-everything and
// stata_runner, and then at each through caddy-stata, mcp_keepalive with its
// default grace and with grace 0 (every tools/call held) in front of
// reverse_proxy: every scenario that passes straight passes through the
// proxy, and the proxy adds the DNS rebinding protection. The front site
// takes any Host, as the README's does, so that a rebound Host reaches the
// handler rather than Caddy's answer for an unknown site.
func TestConformance(t *testing.T) {
	everything := startEverything(t)
	runnerPort := freePort(t)
	runner := fmt.Sprintf("127.0.0.1:%d", runnerPort)
	runnerSite := fmt.Sprintf(`http://%s {
	stata_runner /mcp {
		stata %s
		work_dir %s
	}
}`, runner, standin, t.TempDir())

	type target struct{ name, upstream string }
	for i, server := range []target{{"server-everything", everything}, {"stata_runner", runner}} {
		t.Run(server.name, func(t *testing.T) {
			urls := []struct{ name, url string }{{"straight", "http://" + server.upstream + "/mcp"}}
			for j, site := range proxySites {
				var more []string
				if i == 1 && j == 0 {
					// The first caddy-stata also serves stata_runner.
					more = append(more, runnerSite)
				}
				c := startAnyHost(t, server.upstream, site.body, more...)
				urls = append(urls, struct{ name, url string }{site.name, c.URL + "/mcp"})
			}
			results := make([]map[string]scenarioResult, len(urls))
			for k, u := range urls {
				start := time.Now()
				results[k] = runConformance(t, u.url)
				t.Logf("%s: %d scenarios in %v", u.name, len(results[k]), time.Since(start).Round(time.Millisecond))
			}
			var names []string
			for name := range results[0] {
				names = append(names, name)
			}
			sort.Strings(names)
			var table strings.Builder
			fmt.Fprintf(&table, "\n%-32s", "scenario")
			for _, u := range urls {
				fmt.Fprintf(&table, " %-14s", u.name)
			}
			for _, name := range names {
				fmt.Fprintf(&table, "\n%-32s", name)
				for k := range urls {
					r, ok := results[k][name]
					s := "missing"
					if ok {
						s = r.String()
					}
					fmt.Fprintf(&table, " %-14s", s)
				}
			}
			t.Logf("conformance of %s (checks passed/run):%s", server.name, table.String())
			// Why the scenarios fail straight: most call tools (test_*)
			// of the suite's own reference server, which its npm package
			// does not carry.
			var why strings.Builder
			for _, name := range names {
				if f := results[0][name].failures(); f != "" {
					if len(f) > 200 {
						f = f[:200] + "…"
					}
					fmt.Fprintf(&why, "\n%-32s %s", name, f)
				}
			}
			t.Logf("failing straight at %s:%s", server.name, why.String())
			// The handler refuses a rebound Host or a foreign Origin itself,
			// whatever the server behind it does.
			for k := 1; k < len(urls); k++ {
				if r := results[k]["dns-rebinding-protection"]; !r.passed() {
					t.Errorf("dns-rebinding-protection fails through mcp_keepalive (%s) in front of %s: %s",
						urls[k].name, server.name, r.failures())
				}
			}
			for _, name := range names {
				if !results[0][name].passed() {
					continue
				}
				for k := 1; k < len(urls); k++ {
					r, ok := results[k][name]
					if !ok {
						t.Errorf("%s passes straight at %s but has no result through mcp_keepalive (%s)",
							name, server.name, urls[k].name)
					} else if !r.passed() {
						t.Errorf("%s passes straight at %s but not through mcp_keepalive (%s): %s",
							name, server.name, urls[k].name, r.failures())
					}
				}
			}
		})
	}
}

// startAnyHost is startCaddy with a front site that takes every Host (but
// listens on the loopback interface only), as the README's Caddyfile does.
func startAnyHost(t *testing.T, upstream, siteBody string, moreSites ...string) *caddy {
	t.Helper()
	port, admin := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
}

http://:%d {
	bind 127.0.0.1
%s
}

%s
`, admin, port, strings.ReplaceAll(siteBody, "{upstream}", upstream), strings.Join(moreSites, "\n\n"))
	return startCaddyfile(t, cfg, fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", admin))
}
