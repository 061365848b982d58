package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/redistest"
	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// heldPOST starts a tools/call at protocol 2025-11-25 on url, whose context
// is ctx, and returns the response.
func heldPOST(ctx context.Context, t *testing.T, url, session, body string) *http.Response {
	t.Helper()
	req := rawRequest(ctx, t, url, session, body)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("held call: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp
}

// withoutComments returns an event stream's bytes without its comment
// lines (the keep-alives, which each instance writes on its own timer).
func withoutComments(b []byte) string {
	var out strings.Builder
	for _, block := range strings.SplitAfter(string(b), "\n\n") {
		if !strings.HasPrefix(block, ":") {
			out.WriteString(block)
		}
	}
	return out.String()
}

// TestRedisResumeOnOtherInstance starts a held call on instance A, drops
// it after three of the upstream's progress notifications, and resumes it
// through instance B, which has never seen the call: B serves every event
// after Last-Event-ID, live, and the final response, with the bytes A
// itself replays for the same Last-Event-ID once the call is over.
func TestRedisResumeOnOtherInstance(t *testing.T) {
	redis := startRedis(t)
	up := startUpstream(t, false)
	a, b := twoInstances(t, redis, up.HostPort, "0")
	session := rawInitializeVersion(t, a.URL+"/mcp", "2025-11-25")

	ctx, cancel := context.WithCancel(context.Background())
	resp := heldPOST(ctx, t, a.URL+"/mcp", session,
		`{"jsonrpc":"2.0","id":"call-1","method":"tools/call","params":{"name":"progress_sleep","arguments":{"ms":4500},"_meta":{"progressToken":"tok"}}}`)
	var lastID string
	steps := 0
	dec := sse.NewDecoder(0)
	br := bufio.NewReader(resp.Body)
	for steps < 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream from A ended: %v", err)
		}
		dec.Feed([]byte(line), func(ev sse.Event) {
			if strings.Contains(ev.Data, "upstream step") {
				steps++
				lastID = ev.ID
			}
		})
	}
	cancel()
	resp.Body.Close()
	if !strings.HasPrefix(lastID, "mka-") {
		t.Fatalf("A's event id %q", lastID)
	}

	fromB := rawGET(t, b.URL+"/mcp", session, lastID)
	bodyB, err := io.ReadAll(fromB.Body)
	if fromB.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("resume through B: %d %v %s", fromB.StatusCode, err, bodyB)
	}
	waitCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if _, err := a.waitLog(waitCtx, "held call finished", `"outcome":"response"`); err != nil {
		t.Fatal(err)
	}
	fromA := rawGET(t, a.URL+"/mcp", session, lastID)
	bodyA, _ := io.ReadAll(fromA.Body)

	gotB, gotA := withoutComments(bodyB), withoutComments(bodyA)
	if gotB != gotA {
		t.Fatalf("B's events differ from A's:\nB: %q\nA: %q", gotB, gotA)
	}
	evs := readEvents(t, bytes.NewReader(bodyB))
	if n := strings.Count(gotB, "upstream step"); n != 15-3 {
		t.Fatalf("B sent %d of the upstream's progress notifications after the third, want 12:\n%s", n, gotB)
	}
	last := evs[len(evs)-1]
	if !strings.Contains(last.Data, `"id":"call-1"`) || !strings.Contains(last.Data, "done with progress") || !strings.HasPrefix(last.ID, lastID[:len("mka-")+32]) {
		t.Fatalf("B's last event %+v", last)
	}
	if b.countLogs("held call resumed from the stream store") != 1 || a.countLogs("from the stream store") != 0 {
		t.Fatalf("B did not serve the resume from Redis, or A did:\nA:\n%s\nB:\n%s", a.Logs(), b.Logs())
	}
}

// alternator is a front that sends every resuming GET (one with
// Last-Event-ID) to the next of its instances in turn, starting with the
// second, and everything else to the first: the client is pointed at the
// instances by turns, so that resumes through the instance that does not
// run the call are certain, not left to a balancer's count of requests.
func alternator(t *testing.T, first, second *caddy) string {
	t.Helper()
	proxies := []*httputil.ReverseProxy{}
	for _, c := range []*caddy{first, second} {
		u, err := url.Parse(c.URL)
		if err != nil {
			t.Fatal(err)
		}
		p := httputil.NewSingleHostReverseProxy(u)
		p.FlushInterval = -1
		proxies = append(proxies, p)
	}
	var mu sync.Mutex
	turn := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := 0
		if r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") != "" {
			mu.Lock()
			turn++
			i = turn % 2
			mu.Unlock()
		}
		proxies[i].ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRedisPollingAcrossInstances runs 10 s calls of both SDK clients with
// poll_after 2s in front of two instances: each client reconnects several
// times and gets its result and steadily increasing progress. Through the
// balancer of examples/balancer.Caddyfile (round robin, no affinity), the
// resumes land wherever it sends them; through a front that takes the
// instances by turns for each resume, at least two of them are served from
// Redis by the instance that does not run the call.
func TestRedisPollingAcrossInstances(t *testing.T) {
	redis := startRedis(t)
	up := startUpstream(t, true)
	a, b := twoInstances(t, redis, up.HostPort, "2s")
	lb := balancer(t, a, b)
	fronts := []struct {
		name      string
		url       func(t *testing.T) string
		minRemote int
	}{
		{"balancer", func(*testing.T) string { return lb.URL }, 0},
		// A front of its own for each call, so that its turns start anew.
		{"by turns", func(t *testing.T) string { return alternator(t, a, b) }, 2},
	}
	args := map[string]any{"ms": longCall}
	for _, front := range fronts {
		for _, client := range []struct {
			name string
			call func(url string) callOutcome
		}{
			{"typescript sdk", func(url string) callOutcome { return tsCall(t, url, "sleep", args, nil) }},
			{"go sdk", func(url string) callOutcome { return goCallVersion(t, url, "sleep", args, "2025-11-25") }},
		} {
			t.Run(front.name+"/"+client.name, func(t *testing.T) {
				remote := a.countLogs("resumed from the stream store") + b.countLogs("resumed from the stream store")
				resumed := a.countLogs("held call resumed") + b.countLogs("held call resumed")
				o := client.call(front.url(t) + "/mcp")
				if !o.OK || o.Text != fmt.Sprintf("slept %d ms", longCall) {
					t.Fatalf("call failed after %v: %s", o.Elapsed, o.Err)
				}
				assertIncreasing(t, o.Progress, 5)
				remote = a.countLogs("resumed from the stream store") + b.countLogs("resumed from the stream store") - remote
				resumed = a.countLogs("held call resumed") + b.countLogs("held call resumed") - resumed
				t.Logf("%d resumptions, %d of them from Redis on the instance that did not run the call", resumed, remote)
				if resumed < 3 || remote < front.minRemote {
					t.Fatalf("%d resumptions, %d from Redis: want at least 3 for 10 s polled every 2 s, and %d through the other instance",
						resumed, remote, front.minRemote)
				}
			})
		}
	}
}

// TestRedisCancelOnOtherInstance sends notifications/cancelled for a call
// held on A to B: A cancels the call (its log says it heard it through
// another instance), ends its stream, and the upstream's tool stops.
func TestRedisCancelOnOtherInstance(t *testing.T) {
	redis := startRedis(t)
	up := startUpstream(t, false)
	a, b := twoInstances(t, redis, up.HostPort, "0")
	session := rawInitializeVersion(t, a.URL+"/mcp", "2025-11-25")
	resp := heldPOST(context.Background(), t, a.URL+"/mcp", session,
		`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":30000,"tag":"cancel-me"}}}`)
	defer resp.Body.Close()
	readPriming(t, resp.Body)
	ended := make(chan []byte, 1)
	go func() {
		rest, _ := io.ReadAll(resp.Body)
		ended <- rest
	}()

	req := rawRequest(context.Background(), t, b.URL+"/mcp", session,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,"reason":"changed my mind"}}`)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	cresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cresp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.waitLog(ctx, "held call cancelled by the client through another instance"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.waitLog(ctx, "held call finished", `"outcome":"cancelled"`); err != nil {
		t.Fatal(err)
	}
	select {
	case rest := <-ended:
		if strings.Contains(string(rest), `"id":5`) {
			t.Fatalf("the cancelled call's stream carried a response: %q", rest)
		}
	case <-ctx.Done():
		t.Fatal("A's stream did not end after the cancel")
	}
	select {
	case end := <-up.ends:
		if end.Err == nil {
			t.Fatal("the upstream's tool ran to its end")
		}
	case <-ctx.Done():
		t.Fatal("the upstream's tool was not cancelled")
	}
	if b.countLogs("held call finished") != 0 {
		t.Fatalf("B ran a call:\n%s", b.Logs())
	}
}

// TestRedisInstanceStopped stops instance A (caddy-stata stop) after a call
// it ran finished while its client was away: the client resumes through B
// and gets the result. A call still running on an instance that is killed
// gets, on resume through B, a JSON-RPC error that says so, not a hang.
func TestRedisInstanceStopped(t *testing.T) {
	redis := startRedis(t)
	up := startUpstream(t, true)
	a, b := twoInstances(t, redis, up.HostPort, "0")
	session := rawInitializeVersion(t, a.URL+"/mcp", "2025-11-25")

	// dropped starts a call on c and drops it after its priming event.
	dropped := func(c *caddy, id, ms int) string {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp := heldPOST(ctx, t, c.URL+"/mcp", session,
			fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":%d}}}`, id, ms))
		defer resp.Body.Close()
		return readPriming(t, resp.Body).ID
	}
	primed := dropped(a, 11, 1500)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a.waitLog(ctx, "held call finished", `"client_gone":true`); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "stop", "--address", a.Admin).CombinedOutput(); err != nil {
		t.Fatalf("caddy-stata stop: %v\n%s", err, out)
	}
	select {
	case <-a.exited:
	case <-ctx.Done():
		t.Fatal("instance A did not stop")
	}
	evs := readEvents(t, rawGET(t, b.URL+"/mcp", session, primed).Body)
	if len(evs) == 0 || !strings.Contains(evs[len(evs)-1].Data, `"id":11`) || !strings.Contains(evs[len(evs)-1].Data, "slept 1500 ms") {
		t.Fatalf("resumed through B after A stopped: %+v", evs)
	}

	// A fresh instance A runs a long call, and is killed under it.
	a2 := startExampleFile(t, "instance-a.Caddyfile", map[string]string{
		"PORT": fmt.Sprint(freePort(t)), "ADMIN_PORT": fmt.Sprint(freePort(t)),
		"INTERVAL": "1s", "POLL_AFTER": "0", "REDIS_ADDRESS": redis.Addr, "MCP_UPSTREAM": up.HostPort,
	})
	primed = dropped(a2, 12, 60000)
	// Killed once Redis has the call: a process killed before that leaves
	// nothing to resume anywhere.
	waitKey(ctx, t, redis.Addr, "caddy-stata:m:"+strings.Split(primed, "-")[1])
	a2.stop()
	start := time.Now()
	evs = readEvents(t, rawGET(t, b.URL+"/mcp", session, primed).Body)
	if len(evs) == 0 || !strings.Contains(evs[len(evs)-1].Data, `"id":12`) || !strings.Contains(evs[len(evs)-1].Data, "stopped before the call ended") {
		t.Fatalf("resumed through B after A was killed: %+v", evs)
	}
	t.Logf("the client learnt after %v that the instance running its call was gone", time.Since(start).Round(time.Millisecond))
}

// TestRedisKilledMidCall kills Redis under a held call: the call completes
// for its attached client from memory, and the log and
// caddy_mcp_keepalive_store_errors_total say the store failed. Once Redis is
// back, a new call on A is resumed through B again.
func TestRedisKilledMidCall(t *testing.T) {
	redis := startRedis(t)
	up := startUpstream(t, true)
	a, b := twoInstances(t, redis, up.HostPort, "0")
	if v := metric(t, a, `caddy_mcp_keepalive_store_errors_total{op="write"}`); v != 0 {
		t.Fatalf("store errors before anything failed: %v", v)
	}
	done := make(chan callOutcome, 1)
	go func() { done <- goCallVersion(t, a.URL+"/mcp", "sleep", map[string]any{"ms": 6000}, "2025-11-25") }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The first keep-alive is written when the call is held.
	for metric(t, a, `caddy_mcp_keepalive_keepalives_total{kind="progress"}`) < 1 {
		select {
		case <-ctx.Done():
			t.Fatal("the call was not held")
		case <-time.After(50 * time.Millisecond):
		}
	}
	redis.Kill()
	o := <-done
	if !o.OK || o.Text != "slept 6000 ms" {
		t.Fatalf("the call failed with Redis gone: %s after %v", o.Err, o.Elapsed)
	}
	assertIncreasing(t, o.Progress, 3)
	if _, err := a.waitLog(ctx, "stream store failed"); err != nil {
		t.Fatal(err)
	}
	if v := metric(t, a, `caddy_mcp_keepalive_store_errors_total{op="write"}`); v < 1 {
		t.Fatalf("caddy_mcp_keepalive_store_errors_total{op=\"write\"} = %v", v)
	}
	if n := a.countLogs("stream store failed"); n != 1 {
		t.Fatalf("%d warnings, want one for the whole outage", n)
	}

	// Redis back, empty, at the same address: A says so once its heartbeat
	// gets through, and its new calls are shared again.
	back := redistest.StartAt(t, redis.Addr)
	if _, err := a.waitLog(ctx, "stream store answers again"); err != nil {
		t.Fatal(err)
	}
	session := rawInitializeVersion(t, a.URL+"/mcp", "2025-11-25")
	callCtx, drop := context.WithCancel(context.Background())
	resp := heldPOST(callCtx, t, a.URL+"/mcp", session,
		`{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":1500}}}`)
	primed := readPriming(t, resp.Body).ID
	drop()
	resp.Body.Close()
	waitKey(ctx, t, back.Addr, "caddy-stata:m:"+strings.Split(primed, "-")[1])
	evs := readEvents(t, rawGET(t, b.URL+"/mcp", session, primed).Body)
	if len(evs) == 0 || !strings.Contains(evs[len(evs)-1].Data, `"id":21`) || !strings.Contains(evs[len(evs)-1].Data, "slept 1500 ms") {
		t.Fatalf("resumed through B after Redis came back: %+v", evs)
	}
}
