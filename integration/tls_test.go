package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// remoteExample is the README's remote deployment.
const remoteExample = "../examples/remote.Caddyfile"

// remoteSite is examples/remote.Caddyfile running on this machine.
type remoteSite struct {
	*caddy
	URL    string // the MCP endpoint, https://localhost:PORT/mcp
	RootCA string // the PEM file of Caddy's local CA, which signed the site's certificate
}

// remoteConfig returns examples/remote.Caddyfile with what must differ on
// this machine changed: the admin API, the runner's port, Stata (the
// stand-in), allowed_dirs and work_dir, and the public name, which becomes
// https://localhost:<front> with a certificate from Caddy's local CA
// (tls internal), whose root is not installed into the system's trust
// store (skip_install_trust), and no HTTP redirect server on port 80.
func remoteConfig(t *testing.T, front, runner, admin int, projects string) string {
	t.Helper()
	b, err := os.ReadFile(remoteExample)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, r := range []struct{ old, new string }{
		{"admin localhost:2019", fmt.Sprintf("admin 127.0.0.1:%d\n\tpersist_config off\n\tskip_install_trust\n\tauto_https disable_redirects", admin)},
		{"localhost:4000", fmt.Sprintf("localhost:%d", runner)},
		{"stata /usr/local/stata18/stata-mp", "stata " + standin},
		{"allowed_dirs /srv/stata", "allowed_dirs " + projects},
		{"work_dir /var/lib/caddy-stata", "work_dir " + t.TempDir()},
		{"mcp.example.com {", fmt.Sprintf("https://localhost:%d {\n\ttls internal", front)},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("%s has no %q; update this test with it", remoteExample, r.old)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	return cfg
}

// startRemote runs examples/remote.Caddyfile (see remoteConfig) with
// MCP_TOKEN set to token, and waits until the site has its certificate.
func startRemote(t *testing.T, token string) *remoteSite {
	t.Helper()
	t.Setenv("MCP_TOKEN", token)
	front, runner, admin := freePort(t), freePort(t), freePort(t)
	cfg := remoteConfig(t, front, runner, admin, t.TempDir())
	c := startCaddyfile(t, cfg, fmt.Sprintf("https://localhost:%d", front), fmt.Sprintf("127.0.0.1:%d", admin))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.waitLog(ctx, "certificate obtained successfully", `"identifier":"localhost"`); err != nil {
		t.Fatalf("no certificate for localhost from the local CA: %v\n%s", err, c.Logs())
	}
	// startCaddyfile gives the process this folder as XDG_DATA_HOME, where
	// Caddy keeps its local CA.
	root := filepath.Join(filepath.Dir(c.Config), "caddy", "pki", "authorities", "local", "root.crt")
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("the local CA's root: %v", err)
	}
	return &remoteSite{caddy: c, URL: c.URL + "/mcp", RootCA: root}
}

// httpsClient returns an HTTP client that trusts only the PEM roots in the
// file root, speaks HTTP/2 when the server offers it, gives up after
// headersTimeout without response headers and bodyTimeout without a byte,
// and sends token, when not empty, as a bearer token. Every response's
// protocol is passed to seen.
func httpsClient(t *testing.T, root, token string, seen func(proto string)) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", root)
	}
	tr := &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2:     true,
		ResponseHeaderTimeout: headersTimeout,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: bearer{base: idleTimeout{base: tr, d: bodyTimeout}, token: token, seen: seen}}
}

// bearer adds a bearer token to each request and reports each response's
// protocol.
type bearer struct {
	base  http.RoundTripper
	token string
	seen  func(proto string)
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if b.token != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	resp, err := b.base.RoundTrip(req)
	if err == nil && b.seen != nil {
		b.seen(resp.Proto)
	}
	return resp, err
}

// TestRemoteDeployment runs the README's remote deployment,
// examples/remote.Caddyfile, with HTTPS from Caddy's local CA. A Go SDK
// client with the token calls a tool that runs far longer than the
// client's header and body timers, over HTTP/2, and gets its result with
// progress on the way; the TypeScript SDK client does too, trusting the CA
// through NODE_EXTRA_CA_CERTS. Without the token, or with a wrong one, a
// request gets 401 with WWW-Authenticate: Bearer and a JSON body.
func TestRemoteDeployment(t *testing.T) {
	const token = "4f1c2a9e8b7d6c5a4f1c2a9e8b7d6c5a"
	site := startRemote(t, token)
	code := "display \"begin\"\nsleep 6000\ndisplay \"done\""

	t.Run("go sdk with the token over HTTP/2", func(t *testing.T) {
		var mu sync.Mutex
		protos := map[string]int{}
		client := httpsClient(t, site.RootCA, token, func(p string) { mu.Lock(); protos[p]++; mu.Unlock() })
		var progress []float64
		c := mcp.NewClient(&mcp.Implementation{Name: "tls-test", Version: "1.0.0"}, &mcp.ClientOptions{
			ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
				mu.Lock()
				progress = append(progress, req.Params.Progress)
				mu.Unlock()
			},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		session, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: site.URL, HTTPClient: client, DisableStandaloneSSE: true}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer session.Close()
		params := &mcp.CallToolParams{Name: "stata_run_selection", Arguments: map[string]any{"code": code}}
		params.SetProgressToken("tls")
		start := time.Now()
		res, err := session.CallTool(ctx, params)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatalf("call failed after %v: %v", elapsed, err)
		}
		if res.IsError || len(res.Content) == 0 {
			t.Fatalf("tool error: %+v", res)
		}
		text := res.Content[0].(*mcp.TextContent).Text
		if !strings.Contains(text, "\ndone\n") {
			t.Fatalf("result lacks the run's output:\n%s", text)
		}
		if elapsed < 6*time.Second {
			t.Fatalf("the call took %v; the code sleeps 6 s", elapsed)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(progress) < 2 {
			t.Fatalf("%d progress notifications over %v", len(progress), elapsed)
		}
		if len(protos) != 1 || protos["HTTP/2.0"] == 0 {
			t.Fatalf("responses by protocol: %v, want HTTP/2.0 only", protos)
		}
	})

	t.Run("typescript sdk with the token", func(t *testing.T) {
		t.Setenv("NODE_EXTRA_CA_CERTS", site.RootCA)
		o := tsCall(t, site.URL, "stata_run_selection", map[string]any{"code": code},
			map[string]any{"headers": map[string]string{"Authorization": "Bearer " + token}})
		if !o.OK || o.IsError {
			t.Fatalf("call failed after %v: %s %s", o.Elapsed, o.Err, o.Text)
		}
		if !strings.Contains(o.Text, "\ndone\n") {
			t.Fatalf("result lacks the run's output:\n%s", o.Text)
		}
		assertIncreasing(t, o.Progress, 2)
	})

	t.Run("claude desktop's mcp-remote with --header", func(t *testing.T) {
		mcpRemoteCall(t, site, token, code)
	})

	t.Run("mcp-remote without --header", func(t *testing.T) {
		// What the README warns of: the 401 sends mcp-remote into OAuth,
		// which the site does not offer, and it gives up.
		home := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", filepath.Join("node_modules", "mcp-remote", "dist", "proxy.js"), site.URL, "--auth-timeout", "5")
		cmd.Dir = tsDir
		cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+site.RootCA, "HOME="+home, "MCP_REMOTE_CONFIG_DIR="+home)
		cmd.Stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"tls-test","version":"1.0.0"}}}` + "\n")
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil || err == nil || !strings.Contains(string(out), "Dynamic Client Registration rejected (HTTP 401)") {
			t.Fatalf("mcp-remote without the token: %v, want it to fail at OAuth registration:\n%s", err, out)
		}
	})

	t.Run("editor configs", func(t *testing.T) {
		for _, file := range []string{"cursor-mcp.json", "vscode-mcp.json"} {
			url, headers := editorConfig(t, file, token)
			if url != "https://mcp.example.com/mcp" {
				t.Fatalf("%s: url %q, want https://mcp.example.com/mcp", file, url)
			}
			client := httpsClient(t, site.RootCA, "", nil)
			client.Transport = withHeaders{base: client.Transport, headers: headers}
			c := mcp.NewClient(&mcp.Implementation{Name: "editor-config", Version: "1.0.0"}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			session, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: site.URL, HTTPClient: client, DisableStandaloneSSE: true}, nil)
			if err != nil {
				cancel()
				t.Fatalf("%s: connect with its headers: %v", file, err)
			}
			tools, err := session.ListTools(ctx, nil)
			session.Close()
			cancel()
			if err != nil || len(tools.Tools) == 0 {
				t.Fatalf("%s: tools/list with its headers: %v", file, err)
			}
		}
	})

	for name, auth := range map[string]string{
		"no token":    "",
		"wrong token": "Bearer " + strings.Repeat("0", len(token)),
		"bare token":  token,
		"empty token": "Bearer ",
	} {
		t.Run(name, func(t *testing.T) {
			client := httpsClient(t, site.RootCA, "", nil)
			req, err := http.NewRequest(http.MethodPost, site.URL, strings.NewReader(
				`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Fatalf("WWW-Authenticate %q, want Bearer", got)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json", ct)
			}
			var msg struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &msg); err != nil || !strings.Contains(msg.Error.Message, "Authorization: Bearer") {
				t.Fatalf("body %s is not a JSON-RPC error that says what to send (%v)", body, err)
			}
		})
	}
}

// TestRemoteDeploymentNeedsToken loads examples/remote.Caddyfile with
// MCP_TOKEN unset, and empty: `validate` and `run` both refuse it, naming the
// line of the token.
func TestRemoteDeploymentNeedsToken(t *testing.T) {
	cfg := remoteConfig(t, freePort(t), freePort(t), freePort(t), t.TempDir())
	path := filepath.Join(t.TempDir(), "remote.Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	line := 0
	for i, l := range strings.Split(cfg, "\n") {
		if strings.Contains(l, "{$MCP_TOKEN}") {
			line = i + 1
		}
	}
	if line == 0 {
		t.Fatalf("%s takes no {$MCP_TOKEN}", remoteExample)
	}
	for _, unset := range []bool{true, false} {
		t.Setenv("MCP_TOKEN", "")
		if unset {
			os.Unsetenv("MCP_TOKEN")
		}
		for _, verb := range []string{"validate", "run"} {
			// A run that started would serve until killed: 30 s is the
			// limit of a refusal, which takes well under a second.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cmd := exec.CommandContext(ctx, binary, verb, "--config", path, "--adapter", "caddyfile")
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			timedOut := ctx.Err() != nil
			cancel()
			where := fmt.Sprintf("remote.Caddyfile:%d", line)
			if err == nil || timedOut || !strings.Contains(string(out), where) || !strings.Contains(string(out), "'mcp_token'") {
				t.Fatalf("MCP_TOKEN unset=%v: %s ended with %v, want an error at %s:\n%s", unset, verb, err, where, out)
			}
		}
	}
}

// desktopConfig is examples/claude-desktop.json: Claude Desktop's
// configuration of mcp-remote for the remote deployment.
type desktopConfig struct {
	MCPServers map[string]struct {
		Command string            `json:"command"`
		Args    []string          `json:"args"`
		Env     map[string]string `json:"env"`
	} `json:"mcpServers"`
}

// mcpRemoteCall runs mcp-remote (the stdio bridge that Claude Desktop
// uses for remote servers) as examples/claude-desktop.json configures it:
// the same arguments after the package, with the site's URL and 2 s header
// and body timeouts, and its environment with the token filled in. Over its
// stdin and stdout it initializes, calls the long tool with a progress
// token, and expects progress and then the result.
func mcpRemoteCall(t *testing.T, site *remoteSite, token, code string) {
	t.Helper()
	b, err := os.ReadFile("../examples/claude-desktop.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg desktopConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("examples/claude-desktop.json: %v", err)
	}
	server, ok := cfg.MCPServers["stata"]
	if !ok || server.Command != "npx" {
		t.Fatalf("examples/claude-desktop.json: no server stata run by npx: %s", b)
	}
	pkg := slices.IndexFunc(server.Args, func(a string) bool { return strings.HasPrefix(a, "mcp-remote@") })
	if pkg < 0 || pkg+1 >= len(server.Args) || server.Args[pkg+1] != "https://mcp.example.com/mcp" {
		t.Fatalf("examples/claude-desktop.json: want mcp-remote@<version> https://mcp.example.com/mcp in %q", server.Args)
	}
	if want := "mcp-remote@" + mcpRemoteVersion(t); server.Args[pkg] != want {
		t.Fatalf("examples/claude-desktop.json runs %s; integration/ts tests %s", server.Args[pkg], want)
	}
	args := append([]string{filepath.Join("node_modules", "mcp-remote", "dist", "proxy.js"), site.URL}, server.Args[pkg+2:]...)
	args = append(args, "--headers-timeout", "2", "--body-timeout", "2")
	home := t.TempDir()
	cmd := exec.Command("node", args...)
	cmd.Dir = tsDir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+site.RootCA, "HOME="+home, "MCP_REMOTE_CONFIG_DIR="+home)
	for k, v := range server.Env {
		cmd.Env = append(cmd.Env, k+"="+strings.ReplaceAll(v, "YOUR_MCP_TOKEN", token))
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out lines
	done := make(chan struct{})
	go func() { defer close(done); out.collect(stdout) }()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mcp-remote stdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
		}
	})
	send := func(msg string) {
		if _, err := io.WriteString(stdin, msg+"\n"); err != nil {
			t.Fatalf("writing to mcp-remote: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"tls-test","version":"1.0.0"}}}`)
	if _, err := out.wait(ctx, `"id":1`, `"result"`); err != nil {
		t.Fatalf("no initialize result through mcp-remote: %v", err)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	callArgs, _ := json.Marshal(map[string]any{"code": code})
	start := time.Now()
	send(fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"stata_run_selection","arguments":%s,"_meta":{"progressToken":"remote"}}}`, callArgs))
	line, err := out.wait(ctx, `"id":2`)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("no tools/call answer through mcp-remote: %v", err)
	}
	if !strings.Contains(line, `"result"`) || strings.Contains(line, `"isError":true`) || !strings.Contains(line, `\ndone\n`) {
		t.Fatalf("tools/call through mcp-remote after %v: %s", elapsed, line)
	}
	if elapsed < 6*time.Second {
		t.Fatalf("the call took %v; the code sleeps 6 s", elapsed)
	}
	if n := out.count(`"method":"notifications/progress"`, `"progressToken":"remote"`); n < 2 {
		t.Fatalf("%d progress notifications through mcp-remote, want at least 2", n)
	}
}

// mcpRemoteVersion returns the version of mcp-remote that integration/ts
// installs.
func mcpRemoteVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tsDir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	return pkg.Dependencies["mcp-remote"]
}

// editorConfig reads the server "stata" of examples/<file>, the mcp.json of
// Cursor (mcpServers, ${env:MCP_TOKEN}) or of VS Code (servers, a password
// input), and returns its URL and its headers with the token filled in
// where the editor would fill it.
func editorConfig(t *testing.T, file, token string) (string, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	type server struct {
		Type    string            `json:"type"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
	var cfg struct {
		MCPServers map[string]server `json:"mcpServers"`
		Servers    map[string]server `json:"servers"`
		Inputs     []struct {
			Type     string `json:"type"`
			ID       string `json:"id"`
			Password bool   `json:"password"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	vars := map[string]string{"${env:MCP_TOKEN}": token}
	for _, in := range cfg.Inputs {
		if in.Type != "promptString" || !in.Password {
			t.Fatalf("%s: input %q is not a password prompt", file, in.ID)
		}
		vars["${input:"+in.ID+"}"] = token
	}
	srv, ok := cfg.MCPServers["stata"]
	if !ok {
		if srv, ok = cfg.Servers["stata"]; !ok || srv.Type != "http" {
			t.Fatalf("%s: no server stata of type http", file)
		}
	}
	headers := map[string]string{}
	for k, v := range srv.Headers {
		for name, val := range vars {
			v = strings.ReplaceAll(v, name, val)
		}
		if strings.Contains(v, "${") {
			t.Fatalf("%s: header %s: a variable the editor would not fill: %s", file, k, v)
		}
		headers[k] = v
	}
	return srv.URL, headers
}

// withHeaders sets headers on each request.
type withHeaders struct {
	base    http.RoundTripper
	headers map[string]string
}

func (h withHeaders) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	return h.base.RoundTrip(req)
}
