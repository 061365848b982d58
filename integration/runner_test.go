package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startStata runs caddy-stata with stata_runner (the stand-in as Stata, with
// the given extra subdirectives) on one site and mcp_keepalive with
// reverse_proxy in front of it on another, as Caddyfile.example does. It
// returns the running process; its URL is the front site.
func startStata(t *testing.T, stata string, runnerOptions string) *caddy {
	t.Helper()
	return startStataIn(t, stata, t.TempDir(), runnerOptions)
}

// startStataIn is startStata with the runner's work_dir given.
func startStataIn(t *testing.T, stata, workDir, runnerOptions string) *caddy {
	t.Helper()
	port := freePort(t)
	runnerSite := fmt.Sprintf(`http://127.0.0.1:%d {
	stata_runner /mcp {
		stata %s
		work_dir %s
		%s
	}
}`, port, stata, workDir, runnerOptions)
	return startCaddy(t, fmt.Sprintf("127.0.0.1:%d", port), keepAliveSite, runnerSite)
}

// writeDo writes a do-file into a new directory and returns its path.
func writeDo(t *testing.T, name, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStataLongRun runs a do-file of about 10 s through caddy-stata with both
// SDK clients, whose timers are far shorter: each gets the log, with progress
// whose messages carry the log's lines.
func TestStataLongRun(t *testing.T) {
	c := startStata(t, standin, "workers 2")
	src := "display \"begin\"\n"
	for i := 1; i <= 4; i++ {
		src += fmt.Sprintf("sleep 2500\ndisplay \"step %d\"\n", i)
	}
	doFile := writeDo(t, "long.do", src)
	for name, call := range map[string]func() callOutcome{
		"typescript sdk": func() callOutcome {
			return tsCall(t, c.URL+"/mcp", "stata_run_file", map[string]any{"file_path": doFile}, nil)
		},
		"go sdk": func() callOutcome {
			return goCall(t, c.URL+"/mcp", "stata_run_file", map[string]any{"file_path": doFile})
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := call()
			if !o.OK || o.IsError {
				t.Fatalf("call failed after %v: %s %s", o.Elapsed, o.Err, o.Text)
			}
			if o.Elapsed < 9*time.Second {
				t.Fatalf("the run took %v; the do-file sleeps 10 s", o.Elapsed)
			}
			for _, want := range []string{"\nbegin\n", "\nstep 4\n", "end of do-file"} {
				if !strings.Contains(o.Text, want) {
					t.Fatalf("result lacks %q:\n%s", want, o.Text)
				}
			}
			assertIncreasing(t, o.Progress, 5)
			var logLines int
			for _, p := range o.Progress {
				if p.Message != nil && (strings.Contains(*p.Message, "step") || strings.Contains(*p.Message, "sleep 2500")) {
					logLines++
				}
			}
			if logLines < 2 {
				t.Fatalf("%d progress messages carry log lines: %+v", logLines, o.Progress)
			}
		})
	}
}

// TestStataErrorsAreToolErrors checks that a Stata error and a missing file
// are tool errors with a clear message, not protocol failures.
func TestStataErrorsAreToolErrors(t *testing.T) {
	c := startStata(t, standin, "")
	bad := writeDo(t, "bad.do", "display \"before\"\nerror 198\ndisplay \"after\"\n")
	o := goCall(t, c.URL+"/mcp", "stata_run_file", map[string]any{"file_path": bad})
	if !o.OK || !o.IsError || !strings.Contains(o.Text, "r(198)") || strings.Contains(o.Text, "\nafter\n") {
		t.Fatalf("stata error: ok=%v isError=%v %s\n%s", o.OK, o.IsError, o.Err, o.Text)
	}
	missing := filepath.Join(t.TempDir(), "missing.do")
	o = tsCall(t, c.URL+"/mcp", "stata_run_file", map[string]any{"file_path": missing}, nil)
	if !o.OK || !o.IsError || !strings.Contains(o.Text, missing) {
		t.Fatalf("missing file: ok=%v isError=%v %s\n%s", o.OK, o.IsError, o.Err, o.Text)
	}
}

// pidWrapper returns a script that stands for Stata: it records its own pid
// and that of a child which ignores SIGTERM, then runs the stand-in. The
// returned function reads the pids recorded so far.
func pidWrapper(t *testing.T) (string, func() []int) {
	t.Helper()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	script := filepath.Join(dir, "stata-wrapper")
	src := fmt.Sprintf("#!/bin/sh\necho $$ >> '%s'\n( trap '' TERM; exec sleep 600 ) &\necho $! >> '%s'\nexec '%s' \"$@\"\n",
		pidFile, pidFile, standin)
	if err := os.WriteFile(script, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, func() []int {
		b, _ := os.ReadFile(pidFile)
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
		return pids
	}
}

// running reports whether pid runs (a zombie does not count).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// waitGone waits until none of pids runs, failing after a while. There is no
// signal for another process's end, so this polls /proc.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range pids {
		for running(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestStataTimeoutAndCancelStopEverything checks that a run past its
// timeout, and a run whose client cancels it, leave no process behind, even
// one that ignores SIGTERM, and that the timed-out result says so. The runs
// are isolated (batch) runs: a call in a session interrupts Stata and keeps
// it (see runner_session_test.go).
func TestStataTimeoutAndCancelStopEverything(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		wrapper, pids := pidWrapper(t)
		c := startStata(t, wrapper, "")
		doFile := writeDo(t, "long.do", "display \"started\"\nsleep 60000\n")
		o := goCall(t, c.URL+"/mcp", "stata_run_file", map[string]any{"file_path": doFile, "timeout": 2, "isolated": true})
		if !o.OK || !o.IsError || !strings.Contains(o.Text, "Timed out") || !strings.Contains(o.Text, "started") {
			t.Fatalf("timeout: ok=%v isError=%v %s\n%s", o.OK, o.IsError, o.Err, o.Text)
		}
		if got := pids(); len(got) != 2 {
			t.Fatalf("pids %v", got)
		} else {
			waitGone(t, got)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		wrapper, pids := pidWrapper(t)
		c := startStata(t, wrapper, "")
		doFile := writeDo(t, "long.do", "display \"started\"\nsleep 60000\n")
		o := tsCall(t, c.URL+"/mcp", "stata_run_file", map[string]any{"file_path": doFile, "isolated": true},
			map[string]any{"abortAfterMs": 3000})
		if o.OK || !strings.Contains(o.Err, "aborted") {
			t.Fatalf("cancel: ok=%v %s", o.OK, o.Err)
		}
		if got := pids(); len(got) != 2 {
			t.Fatalf("pids %v", got)
		} else {
			waitGone(t, got)
		}
	})
}

// TestStataWorkersAndQueue checks that with one worker three isolated calls
// at once run one after another, the waiting ones told their place, and that
// with a queue of one the third call is refused with a tool error. (Calls in
// the one session of the client would run one after another anyway.)
func TestStataWorkersAndQueue(t *testing.T) {
	doFile := writeDo(t, "short.do", "display \"working\"\nsleep 1500\n")
	args := map[string]any{"file_path": doFile, "isolated": true}
	three := map[string]any{"calls": 3}
	t.Run("queued in turn", func(t *testing.T) {
		t.Parallel()
		c := startStata(t, standin, "workers 1")
		outcomes := tsCalls(t, c.URL+"/mcp", "stata_run_file", args, three)
		var told int
		var longest time.Duration
		for _, o := range outcomes {
			if !o.OK || o.IsError {
				t.Fatalf("a call failed: %s %s", o.Err, o.Text)
			}
			longest = max(longest, o.Elapsed)
			for _, p := range o.Progress {
				if p.Message != nil && strings.Contains(*p.Message, "ahead") {
					told++
					break
				}
			}
		}
		if len(outcomes) != 3 || told < 2 || longest < 4500*time.Millisecond {
			t.Fatalf("%d calls, %d told their place, the last took %v (one after another takes 4.5 s)",
				len(outcomes), told, longest)
		}
	})
	t.Run("queue full", func(t *testing.T) {
		t.Parallel()
		c := startStata(t, standin, "workers 1\n\t\tqueue 1")
		var refused, ran int
		for _, o := range tsCalls(t, c.URL+"/mcp", "stata_run_file", args, three) {
			switch {
			case o.OK && o.IsError && strings.Contains(o.Text, "queue is full"):
				refused++
			case o.OK && !o.IsError:
				ran++
			default:
				t.Fatalf("unexpected outcome: %+v", o)
			}
		}
		if refused != 1 || ran != 2 {
			t.Fatalf("%d refused, %d ran; want 1 and 2", refused, ran)
		}
	})
}

// TestStataHealth asks the runner for its health through the binary, as a
// person or a reverse_proxy health check would: a GET that asks for JSON.
func TestStataHealth(t *testing.T) {
	c := startStata(t, standin, "workers 3")
	var h struct {
		Status  string `json:"status"`
		Stata   string `json:"stata"`
		Workers int    `json:"workers"`
		Busy    int    `json:"busy"`
		Queued  int    `json:"queued"`
	}
	status, _ := healthReport(t, c.URL+"/mcp", &h)
	if status != http.StatusOK || h.Status != "ok" || h.Stata != standin || h.Workers != 3 || h.Busy != 0 || h.Queued != 0 {
		t.Fatalf("health: %d %+v", status, h)
	}
}
