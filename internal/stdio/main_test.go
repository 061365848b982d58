package stdio

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// server is the Go SDK stdio MCP server of the integration tests
// (integration/stdioserver), built by TestMain: a real server, so that the
// pool is tested against what the SDK writes.
var server string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stdio-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = filepath.Join(dir, "stdioserver")
	cmd := exec.Command("go", "build", "-o", server, "github.com/caddy-stata/caddy-stata/integration/stdioserver")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the stdio server: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// startPool starts a pool of the test server with cfg's settings, serves it
// on a test HTTP server, and waits for want workers to be ready. The pool
// is closed, and its processes reaped, when the test ends.
func startPool(t *testing.T, cfg Config, want int) (*Pool, string) {
	t.Helper()
	cfg.Command = []string{server}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(p)
	t.Cleanup(func() {
		ts.Close()
		p.Close()
		p.Wait()
	})
	waitFor(t, 30*time.Second, fmt.Sprintf("%d workers ready", want), func() bool {
		n := 0
		for _, w := range p.Health().Workers {
			if w.State == stateIdle || w.State == stateBusy {
				n++
			}
		}
		return n >= want
	})
	return p, ts.URL
}

// waitFor polls cond every 20 ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// post sends one JSON-RPC message in session sess ("" for none).
func post(t *testing.T, url, sess, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sess != "" {
		req.Header.Set(headerSession, sess)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// initialize starts a session with the given capabilities and returns its
// id and the initialize result.
func initialize(t *testing.T, url, version, caps string) (string, map[string]any) {
	t.Helper()
	resp := post(t, url, "", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+version+
		`","capabilities":`+caps+`,"clientInfo":{"name":"t","version":"1"}}}`)
	msgs := messages(t, resp)
	if len(msgs) != 1 || msgs[0]["result"] == nil {
		t.Fatalf("initialize: %v", msgs)
	}
	sess := resp.Header.Get(headerSession)
	if sess == "" {
		t.Fatal("initialize: no session id")
	}
	post(t, url, sess, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return sess, msgs[0]["result"].(map[string]any)
}

// messages reads the JSON-RPC messages of a response: one JSON body, or the
// data of each event of an event stream.
func messages(t *testing.T, resp *http.Response) []map[string]any {
	t.Helper()
	var out []map[string]any
	add := func(data string) {
		var m map[string]any
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("not a message: %q", data)
		}
		out = append(out, m)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			b.WriteString(sc.Text())
		}
		add(b.String())
		return out
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			add(data)
		}
	}
	return out
}

// text returns the first text content of a tools/call response.
func text(m map[string]any) string {
	res, _ := m["result"].(map[string]any)
	content, _ := res["content"].([]any)
	if len(content) == 0 {
		return ""
	}
	c, _ := content[0].(map[string]any)
	s, _ := c["text"].(string)
	return s
}
