package integration

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestStdioScaling sends 40 concurrent calls from 8 Go SDK sessions to a
// pool of 2 to 8 workers with 4 calls each: the pool grows past 2, every
// answer reaches its own caller, and once idle_timeout passes the pool
// shrinks back to 2.
func TestStdioScaling(t *testing.T) {
	c := startCaddy(t, "", stdioSite(stdioServer, `
		min_workers 2
		max_workers 8
		max_inflight 4
		idle_timeout 2s
		health_interval 1s`))
	url := c.URL + "/mcp"
	waitHealth(t, url, 30*time.Second, "2 workers ready", func(h stdioHealth) bool { return len(h.ready()) == 2 })

	const sessions, perSession = 8, 5
	var (
		mu   sync.Mutex
		pids = map[int]int{}
		wg   sync.WaitGroup
	)
	for i := range sessions {
		s := goSession(t, url, nil)
		for j := range perSession {
			wg.Add(1)
			go func() {
				defer wg.Done()
				want := fmt.Sprintf("session %d call %d: ", i, j)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 3000, "text": want}})
				if err != nil {
					t.Errorf("%s%v", want, err)
					return
				}
				text := resultText(res)
				if !strings.HasPrefix(text, want+"slept 3000 ms pid ") {
					t.Errorf("%sgot %q", want, text)
					return
				}
				mu.Lock()
				pids[pidOf(text)]++
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	t.Logf("calls per worker pid: %v", pids)
	if len(pids) <= 2 {
		t.Fatalf("40 calls ran on %d workers; the pool did not grow", len(pids))
	}
	for pid, n := range pids {
		if n > 4*3 {
			t.Errorf("worker %d ran %d calls", pid, n)
		}
	}
	h := waitHealth(t, url, 30*time.Second, "back to 2 workers", func(h stdioHealth) bool {
		return len(h.Workers) == 2 && len(h.ready()) == 2
	})
	if h.Calls["ok"] != sessions*perSession {
		t.Errorf("calls ok = %d, want %d", h.Calls["ok"], sessions*perSession)
	}
	if got := metric(t, c, `caddy_mcp_stdio_calls_total{outcome="ok"}`); got != sessions*perSession {
		t.Errorf(`caddy_mcp_stdio_calls_total{outcome="ok"} = %v`, got)
	}
	if got := metric(t, c, `caddy_mcp_stdio_workers{state="idle"}`); got != 2 {
		t.Errorf(`caddy_mcp_stdio_workers{state="idle"} = %v`, got)
	}
	if got := metric(t, c, `caddy_mcp_stdio_queue_length`); got != 0 {
		t.Errorf(`caddy_mcp_stdio_queue_length = %v`, got)
	}
}

// TestStdioCrash kills a worker mid-call: its caller gets a JSON-RPC error
// within seconds, a new worker replaces it, and the next call succeeds.
// Then a worker that stops answering pings (SIGSTOP) is replaced.
func TestStdioCrash(t *testing.T) {
	c := startCaddy(t, "", stdioSite(stdioServer, `
		min_workers 2
		health_interval 1s
		health_timeout 2s`))
	url := c.URL + "/mcp"
	h := waitHealth(t, url, 30*time.Second, "2 workers ready", func(h stdioHealth) bool { return len(h.ready()) == 2 })
	s := goSession(t, url, nil)

	type result struct {
		err     error
		elapsed time.Duration
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 60000}})
		done <- result{err: err}
	}()
	h = waitHealth(t, url, 10*time.Second, "a call running", func(h stdioHealth) bool {
		for _, w := range h.Workers {
			if w.Inflight == 1 {
				return true
			}
		}
		return false
	})
	var victim int
	for _, w := range h.Workers {
		if w.Inflight == 1 {
			victim = w.PID
		}
	}
	killed := time.Now()
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		t.Logf("the caller's error after %v: %v", time.Since(killed), r.err)
		if r.err == nil {
			t.Fatal("the call on the killed worker succeeded")
		}
		if want := fmt.Sprintf("worker pid %d exited (signal: killed)", victim); !strings.Contains(r.err.Error(), want) {
			t.Fatalf("the error does not say %q: %v", want, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer 10 s after the worker was killed")
	}
	h = waitHealth(t, url, 30*time.Second, "the killed worker replaced", func(h stdioHealth) bool {
		return !h.has(victim) && len(h.ready()) == 2 && h.Restarts == 1
	})
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "after"}})
	if err != nil || !strings.HasPrefix(resultText(res), "after pid ") {
		t.Fatalf("the next call: %v %q", err, resultText(res))
	}
	if got := metric(t, c, `caddy_mcp_stdio_calls_total{outcome="worker_failed"}`); got != 1 {
		t.Errorf(`caddy_mcp_stdio_calls_total{outcome="worker_failed"} = %v`, got)
	}

	// A worker that stops answering: SIGSTOP, so it neither answers nor exits.
	frozen := h.ready()[0]
	t.Cleanup(func() { _ = syscall.Kill(frozen, syscall.SIGKILL) })
	if err := syscall.Kill(frozen, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	h = waitHealth(t, url, 30*time.Second, "the frozen worker replaced", func(h stdioHealth) bool {
		return !h.has(frozen) && len(h.ready()) == 2 && h.Restarts == 2
	})
	if _, err := c.waitLog(context.Background(), "worker failed", fmt.Sprintf(`"pid":%d`, frozen), "did not answer a ping within 2s"); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, c, `caddy_mcp_stdio_restarts_total`); got != 2 {
		t.Errorf(`caddy_mcp_stdio_restarts_total = %v`, got)
	}
	waitGone(t, []int{victim, frozen})
}

// TestStdioNoOrphans stops Caddy, gracefully and with SIGKILL, and checks
// that every worker (server-everything under node, and the Go server) is
// gone.
func TestStdioNoOrphans(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			other := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			c := startCaddy(t, "", stdioSite(stdioServer, "\t\tmin_workers 3"),
				fmt.Sprintf("http://%s {\n%s\n}", other, stdioSite(everythingStdio(), "")))
			h := waitHealth(t, c.URL+"/mcp", 30*time.Second, "3 workers ready", func(h stdioHealth) bool { return len(h.ready()) == 3 })
			pids := h.ready()
			h = waitHealth(t, "http://"+other+"/mcp", 60*time.Second, "2 workers ready", func(h stdioHealth) bool { return len(h.ready()) == 2 })
			pids = append(pids, h.ready()...)
			if err := c.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.exited:
			case <-time.After(30 * time.Second):
				t.Fatal("caddy did not exit")
			}
			waitGone(t, pids)
		})
	}
}

// TestStdioBadConfig checks that a config without command, with
// min_workers over max_workers or with a program that does not exist fails
// to adapt with the line, and that a program that exits at once gives a
// health report that says so and a clear JSON-RPC error to clients.
func TestStdioBadConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		block, want string
		line        int
	}{
		"no command":   {"mcp_stdio {\n\t\tmin_workers 1\n\t}", "mcp_stdio: command is required", 4},
		"min over max": {"mcp_stdio {\n\t\tcommand cat\n\t\tmin_workers 4\n\t\tmax_workers 2\n\t}", "mcp_stdio: min_workers (4) is more than max_workers (2)", 6},
		"no program":   {"mcp_stdio {\n\t\tcommand /nonexistent/mcp-server --stdio\n\t}", "command: program '/nonexistent/mcp-server' not found", 3},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := dir + "/Caddyfile"
			cfg := ":8080 {\n\t" + tc.block + "\n}\n"
			writeFile(t, path, cfg)
			out, err := exec.Command(binary, "adapt", "--config", path).CombinedOutput()
			if err == nil {
				t.Fatalf("adapt succeeded:\n%s", out)
			}
			at := fmt.Sprintf(", at %s:%d", path, tc.line)
			if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), at) {
				t.Fatalf("adapt's error lacks %q or %q:\n%s", tc.want, at, out)
			}
		})
	}
	t.Run("exits at once", func(t *testing.T) {
		c := startCaddy(t, "", stdioSite(`sh -c "echo broken >&2; exit 3"`, "\t\tmin_workers 1"))
		url := c.URL + "/mcp"
		h := waitHealth(t, url, 30*time.Second, "a failure in the report", func(h stdioHealth) bool { return h.LastError != "" })
		if !strings.Contains(h.LastError, "exited before answering initialize (exit status 3)") {
			t.Fatalf("last_error: %q", h.LastError)
		}
		if _, err := c.waitLog(context.Background(), "worker stderr", `"line":"broken"`); err != nil {
			t.Fatal(err)
		}
		o := goCall(t, url, "echo", nil)
		if o.OK || !strings.Contains(o.Err, "no worker is running: worker pid") || !strings.Contains(o.Err, "exit status 3") {
			t.Fatalf("the client got: %+v", o)
		}
		// A POST with a made-up session is a plain 404.
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Mcp-Session-Id", "nope")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown session: status %d", resp.StatusCode)
		}
	})
}

// TestStdioReload reloads the same config while a call runs: the pool, its
// workers and the call survive. A config with another command replaces the
// pool and stops the old workers.
func TestStdioReload(t *testing.T) {
	c := startCaddy(t, "", stdioSite(stdioServer, "\t\tmin_workers 2"))
	url := c.URL + "/mcp"
	before := waitHealth(t, url, 30*time.Second, "2 workers ready", func(h stdioHealth) bool { return len(h.ready()) == 2 }).ready()
	s := goSession(t, url, nil)
	done := make(chan error, 1)
	go func() {
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 4000, "text": "kept "}})
		if err == nil && !strings.HasPrefix(resultText(res), "kept slept") {
			err = fmt.Errorf("result %q", resultText(res))
		}
		done <- err
	}()
	waitHealth(t, url, 10*time.Second, "the call running", func(h stdioHealth) bool {
		return h.Workers[0].Inflight+h.Workers[1].Inflight == 1
	})
	c.load(t, c.configText(t))
	if _, err := c.waitLog(context.Background(), "load complete"); err != nil {
		t.Fatal(err)
	}
	if after := getHealth(t, url).ready(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("workers %v became %v after reloading the same config", before, after)
	}
	if err := <-done; err != nil {
		t.Fatalf("the call across the reload: %v", err)
	}
	// Another command (the same program with an argument): a new pool.
	c.load(t, strings.Replace(c.configText(t), "command "+stdioServer, "command "+stdioServer+" second", 1))
	waitHealth(t, url, 30*time.Second, "a new pool", func(h stdioHealth) bool {
		r := h.ready()
		return len(r) == 2 && r[0] != before[0] && r[0] != before[1] && r[1] != before[0] && r[1] != before[1]
	})
	waitGone(t, before)
}
