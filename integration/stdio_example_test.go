package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStdioExample runs examples/stdio.Caddyfile, the README's, as it is:
// server-everything installed as mcp-server-everything (here, from the
// integration lock file, put on PATH), ports from the environment. The
// TypeScript client calls through it, and the health report shows the
// example's two workers.
func TestStdioExample(t *testing.T) {
	cfg, err := os.ReadFile(filepath.Join("..", "examples", "stdio.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	port, admin := freePort(t), freePort(t)
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv("ADMIN_PORT", fmt.Sprint(admin))
	t.Setenv("PATH", filepath.Join(tsDir, "node_modules", ".bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	c := startCaddyfile(t, string(cfg), fmt.Sprintf("http://localhost:%d", port), fmt.Sprintf("localhost:%d", admin))
	url := c.URL + "/mcp"
	waitHealth(t, url, 60*time.Second, "2 workers ready", func(h stdioHealth) bool { return len(h.ready()) == 2 })
	o := tsCall(t, url, "get-sum", map[string]any{"a": 2, "b": 3}, nil)
	if !o.OK || o.IsError || !strings.Contains(o.Text, "5") {
		t.Fatalf("get-sum: %+v", o)
	}
}
