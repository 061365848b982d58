package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// pollingSite closes held connections every 2 s; clients resume by GET.
const pollingSite = `
	mcp_keepalive {
		grace 500ms
		interval 1s
		poll_after 2s
		retry 200ms
	}
	reverse_proxy {upstream} {
		header_up Host {upstream_hostport}
	}`

// readPriming reads a held call's event stream up to its first event with an
// id, the priming event of a client at 2025-11-25, and returns it.
func readPriming(t *testing.T, body io.Reader) sse.Event {
	t.Helper()
	var priming sse.Event
	dec := sse.NewDecoder(0)
	br := bufio.NewReader(body)
	for priming.ID == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no priming event: %v", err)
		}
		dec.Feed([]byte(line), func(ev sse.Event) { priming = ev })
	}
	return priming
}

// countLogs returns how many log lines contain every one of parts.
func (c *caddy) countLogs(parts ...string) int { return c.log.count(parts...) }

// TestPollingClientsResume runs a 10 s call through caddy-stata with
// poll_after 2s: both SDK clients, at protocol 2025-11-25, succeed after
// several resumptions by GET, with their short timers.
func TestPollingClientsResume(t *testing.T) {
	args := map[string]any{"ms": longCall}
	for name, call := range map[string]func(url string) callOutcome{
		"typescript sdk": func(url string) callOutcome { return tsCall(t, url, "sleep", args, nil) },
		"go sdk":         func(url string) callOutcome { return goCallVersion(t, url, "sleep", args, "2025-11-25") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t, true)
			c := startCaddy(t, up.HostPort, pollingSite)
			o := call(c.URL + "/mcp")
			if !o.OK || o.Text != fmt.Sprintf("slept %d ms", longCall) {
				t.Fatalf("call failed after %v: %s", o.Elapsed, o.Err)
			}
			assertIncreasing(t, o.Progress, 5)
			if n := c.countLogs("held call resumed"); n < 3 {
				t.Fatalf("%d resumptions, want at least 3 for 10 s polled every 2 s", n)
			}
		})
	}
}

// readEvents reads an event stream to its end.
func readEvents(t *testing.T, r io.Reader) []sse.Event {
	t.Helper()
	var evs []sse.Event
	dec := sse.NewDecoder(0)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		dec.Feed([]byte(line), func(ev sse.Event) { evs = append(evs, ev) })
		if err != nil {
			return evs
		}
	}
}

// rawGET resumes a stream by hand.
func rawGET(t *testing.T, url, session, lastID string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	req.Header.Set("Last-Event-ID", lastID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestRawDropAndResume reads the priming id of a held call, drops the
// connection, and gets the final response by GET; another session with the
// same id, and an unknown id, get 404 and nothing else.
func TestRawDropAndResume(t *testing.T) {
	up := startUpstream(t, true)
	c := startCaddy(t, up.HostPort, keepAliveSite)
	url := c.URL + "/mcp"
	session := rawInitialize(t, url)
	other := rawInitialize(t, url)

	ctx, cancel := context.WithCancel(context.Background())
	req := rawRequest(ctx, t, url, session,
		`{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":2500,"tag":"resumed"}}}`)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	priming := readPriming(t, resp.Body)
	if priming.Data != "" || !strings.HasPrefix(priming.ID, "mka-") {
		t.Fatalf("priming event %+v", priming)
	}
	cancel()
	resp.Body.Close()

	for name, r := range map[string]*http.Response{
		"another session": rawGET(t, url, other, priming.ID),
		"unknown id":      rawGET(t, url, session, "mka-0123456789abcdef0123456789abcdef-0"),
	} {
		body, _ := io.ReadAll(r.Body)
		if r.StatusCode != http.StatusNotFound || strings.Contains(string(body), "slept") || strings.Contains(string(body), "jsonrpc") {
			t.Fatalf("%s: %d %q", name, r.StatusCode, body)
		}
	}

	evs := readEvents(t, rawGET(t, url, session, priming.ID).Body)
	if len(evs) == 0 || !strings.Contains(evs[len(evs)-1].Data, `"id":77`) || !strings.Contains(evs[len(evs)-1].Data, "slept 2500 ms") {
		t.Fatalf("resumed events %+v", evs)
	}
	if end := <-up.ends; end.Err != nil {
		t.Fatalf("the dropped call was cancelled upstream: %v", end.Err)
	}
}

// TestSDKCancelReachesUpstream cancels a held call with the TypeScript SDK's
// AbortSignal (it sends notifications/cancelled): the upstream's tool sees its
// cancellation, and caddy-stata logs the call as cancelled.
func TestSDKCancelReachesUpstream(t *testing.T) {
	up := startUpstream(t, false)
	c := startCaddy(t, up.HostPort, keepAliveSite)
	o := tsCall(t, c.URL+"/mcp", "sleep", map[string]any{"ms": 30000, "tag": "aborted"},
		map[string]any{"abortAfterMs": 2000})
	if o.OK || !strings.Contains(o.Err, "aborted") {
		t.Fatalf("the call was not aborted: %+v", o)
	}
	select {
	case end := <-up.ends:
		if end.Err == nil {
			t.Fatal("the upstream's tool ran to its end")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream's tool was not cancelled")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.waitLog(ctx, "held call finished", `"outcome":"cancelled"`); err != nil {
		t.Fatal(err)
	}
}

// TestStatelessClientDropCancels drops the stream of a held call of a
// 2026-07-28 client (the Go SDK's, against a stateless server): that is its
// cancellation, so the upstream's tool is cancelled; and no event it got
// carried an id.
func TestStatelessClientDropCancels(t *testing.T) {
	up := startUpstreamWith(t, false, true)
	c := startCaddy(t, up.HostPort, keepAliveSite)
	var ids []string
	var mu sync.Mutex
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c.waitLog(ctx, "held call finished", `"outcome":"cancelled"`)
	}()
	// The Go SDK client at its default revision, 2026-07-28; its context
	// ends after 2 s, which closes the stream.
	done := make(chan callOutcome, 1)
	go func() {
		done <- goCallDrop(t, c.URL+"/mcp", "sleep", map[string]any{"ms": 30000, "tag": "stateless"}, 2*time.Second, func(id string) {
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		})
	}()
	select {
	case end := <-up.ends:
		if end.Err == nil {
			t.Fatal("the upstream's tool ran to its end")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the upstream's tool was not cancelled")
	}
	<-done
	<-logged
	if c.countLogs("held call finished", `"outcome":"cancelled"`) != 1 || c.countLogs("its client left") != 1 {
		t.Fatalf("the call was not cancelled by its dropped stream:\n%s", c.Logs())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) == 0 {
		t.Fatal("the client received no event")
	}
	for _, id := range ids {
		if id != "" {
			t.Fatalf("a 2026-07-28 client got event id %q", id)
		}
	}
}

// TestReloadKeepsHeldCalls reloads the config while five calls are held:
// every one of them still gets its result.
func TestReloadKeepsHeldCalls(t *testing.T) {
	up := startUpstream(t, true)
	c := startCaddy(t, up.HostPort, keepAliveSite)
	url := c.URL + "/mcp"
	session := rawInitialize(t, url)
	var committed, finished sync.WaitGroup
	results := make([]string, 5)
	for i := range results {
		committed.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			req := rawRequest(context.Background(), t, url, session, fmt.Sprintf(
				`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":4000}}}`, i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				committed.Done()
				results[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			_, _ = br.ReadString('\n') // the first keep-alive: the call is held
			committed.Done()
			evs := readEvents(t, br)
			if len(evs) > 0 {
				results[i] = evs[len(evs)-1].Data
			}
		}()
	}
	committed.Wait()
	// A changed config, so that Caddy really replaces the handlers.
	cfg, err := os.ReadFile(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(cfg), "interval 1s", "interval 900ms", 1)
	if err := os.WriteFile(c.Config, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "reload", "--config", c.Config, "--address", c.Admin).CombinedOutput()
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	finished.Wait()
	for i, r := range results {
		if !strings.Contains(r, fmt.Sprintf(`"id":%d`, i)) || !strings.Contains(r, "slept 4000 ms") {
			t.Fatalf("call %d ended with %q", i, r)
		}
	}
	if !strings.Contains(c.Logs(), "load complete") {
		t.Fatal("the reload did not happen")
	}
}
