package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// stdioHealth is the part of mcp_stdio's health report the tests read.
type stdioHealth struct {
	Workers []struct {
		PID             int        `json:"pid"`
		State           string     `json:"state"`
		Inflight        int        `json:"inflight"`
		Served          int64      `json:"calls_served"`
		Restarts        int        `json:"restarts"`
		LastHealthCheck *time.Time `json:"last_health_check"`
		StopCause       string     `json:"stop_cause"`
	} `json:"workers"`
	Queue     int              `json:"queue_length"`
	Restarts  int64            `json:"restarts"`
	Calls     map[string]int64 `json:"calls"`
	LastError string           `json:"last_error"`
}

// live returns the pids of the workers not being stopped.
func (h stdioHealth) live() []int {
	var pids []int
	for _, w := range h.Workers {
		if w.State != "stopping" {
			pids = append(pids, w.PID)
		}
	}
	return pids
}

// ready returns the pids of the workers initialized and not being stopped.
func (h stdioHealth) ready() []int {
	var pids []int
	for _, w := range h.Workers {
		if w.State == "idle" || w.State == "busy" {
			pids = append(pids, w.PID)
		}
	}
	return pids
}

// has reports whether pid is among the workers.
func (h stdioHealth) has(pid int) bool {
	for _, w := range h.Workers {
		if w.PID == pid {
			return true
		}
	}
	return false
}

// getHealth reads mcp_stdio's health report at url.
func getHealth(t *testing.T, url string) stdioHealth {
	t.Helper()
	var h stdioHealth
	if status, ct := healthReport(t, url, &h); status != http.StatusOK || !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("health report: status %d, %s", status, ct)
	}
	return h
}

// waitHealth polls the health report at url until cond holds, for at most
// d, and returns the report that satisfied it.
func waitHealth(t *testing.T, url string, d time.Duration, what string, cond func(stdioHealth) bool) stdioHealth {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		h := getHealth(t, url)
		if cond(h) {
			return h
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(h, "", "  ")
			t.Fatalf("after %v, still not %s; health report:\n%s", d, what, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// everythingStdio is the command that runs server-everything in stdio mode.
func everythingStdio() string {
	return "node " + filepath.Join(tsDir, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js") + " stdio"
}

// stdioSite is a site body with mcp_keepalive (short grace and interval,
// as keepAliveSite) in front of mcp_stdio running command, with the
// subdirectives in extra.
func stdioSite(command, extra string) string {
	return fmt.Sprintf(`
	mcp_keepalive {
		grace 500ms
		interval 1s
	}
	mcp_stdio {
		command %s
%s
	}`, command, extra)
}

// goSession connects the Go SDK client to url with opts; the session is
// closed when the test ends.
func goSession(t *testing.T, url string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "integration-go-client", Version: "1.0.0"}, opts)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	transport := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: tr}, DisableStandaloneSSE: true}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, transport, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// resultText returns the first text content of a tool result.
func resultText(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}

// pidOf returns the number after "pid " in a tool's text, or 0.
func pidOf(text string) int {
	_, after, ok := strings.Cut(text, "pid ")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(strings.Fields(after)[0])
	return n
}

// configText returns the Caddyfile the process was started with.
func (c *caddy) configText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// load loads the Caddyfile cfg through the admin API.
func (c *caddy) load(t *testing.T, cfg string) {
	t.Helper()
	resp, err := http.Post("http://"+c.Admin+"/load", "text/caddyfile", strings.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("loading the config: status %d: %s", resp.StatusCode, body)
	}
}

// writeFile writes data to path.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
