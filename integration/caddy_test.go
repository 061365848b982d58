package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// caddy is one running caddy-stata process.
type caddy struct {
	t   *testing.T
	cmd *exec.Cmd
	URL string // the front site, e.g. http://127.0.0.1:PORT
	// Admin is the admin API's address, and Config the Caddyfile's path.
	Admin, Config string
	log           lines // the process's log lines
	exited        chan struct{}
}

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCaddy runs caddy-stata with a Caddyfile whose site block body is
// siteBody (with {upstream} replaced by upstream's host:port) on a free port,
// followed by any further site blocks, and waits until it serves.
func startCaddy(t *testing.T, upstream, siteBody string, moreSites ...string) *caddy {
	t.Helper()
	port := freePort(t)
	admin := freePort(t)
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
}

http://127.0.0.1:%d {
%s
}

%s
`, admin, port, strings.ReplaceAll(siteBody, "{upstream}", upstream), strings.Join(moreSites, "\n\n"))
	return startCaddyfile(t, cfg, fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", admin))
}

// startCaddyfile runs caddy-stata with the Caddyfile cfg, whose front site is
// at url and admin API at admin, and waits until it serves.
func startCaddyfile(t *testing.T, cfg, url, admin string) *caddy {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &caddy{t: t, URL: url, exited: make(chan struct{}), Admin: admin, Config: path}
	c.cmd = exec.Command(binary, "run", "--config", path, "--adapter", "caddyfile")
	c.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stdout = io.Discard
	ready := make(chan struct{})
	c.watch(func(line string) {
		if strings.Contains(line, "serving initial configuration") {
			select {
			case <-ready:
			default:
				close(ready)
			}
		}
	})
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go c.read(stderr)
	t.Cleanup(c.stop)
	select {
	case <-ready:
	case <-c.exited:
		t.Fatalf("caddy-stata exited:\n%s", c.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("caddy-stata did not start:\n%s", c.Logs())
	}
	return c
}

// read collects the process's log lines until it exits.
func (c *caddy) read(r io.Reader) {
	defer close(c.exited)
	c.log.collect(r)
}

// watch calls fn for every later log line.
func (c *caddy) watch(fn func(string)) { c.log.watch(fn) }

// waitLog waits for a log line that contains every one of parts, seen before
// or after the call.
func (c *caddy) waitLog(ctx context.Context, parts ...string) (string, error) {
	return c.log.wait(ctx, parts...)
}

// Logs returns everything the process logged so far.
func (c *caddy) Logs() string { return c.log.String() }

// stop ends the process and shows its log if the test failed.
func (c *caddy) stop() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	<-c.exited
	if strings.Contains(c.Logs(), "WARNING: DATA RACE") {
		c.t.Error("the race detector found a data race in caddy-stata")
	}
	if c.t.Failed() {
		c.t.Logf("caddy-stata log:\n%s", c.Logs())
	}
}

// keepAliveSite is the site body the client tests use: short grace and
// interval, so that the 2 s fetch timeouts of the clients are covered.
const keepAliveSite = `
	mcp_keepalive {
		grace 500ms
		interval 1s
	}
	reverse_proxy {upstream} {
		header_up Host {upstream_hostport}
	}`

// healthReport GETs url asking for JSON, as a person or a reverse_proxy
// health check would, decodes the answer into v, and returns its status and
// Content-Type.
func healthReport(t *testing.T, url string, v any) (status int, contentType string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("health report at %s: %d: %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type")
}
