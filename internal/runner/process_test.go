package runner

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startShell starts sh -c script as a process, with its output in a file.
func startShell(t *testing.T, script string) *process {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	p, err := startProcess("/bin/sh", []string{"-c", script}, t.TempDir(), out)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readPids waits for the file at path to hold n pids and returns them.
func readPids(t *testing.T, path string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if f := strings.Fields(string(b)); len(f) >= n {
			var pids []int
			for _, s := range f[:n] {
				pid, err := strconv.Atoi(s)
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, pid)
			}
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %d pids", path, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProcessStopEscalatesToKill(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	// The leader ignores SIGTERM, and so does its child: only SIGKILL ends them.
	p := startShell(t, "trap '' TERM; sleep 600 & echo $$ $! > "+pidFile+"; wait")
	pids := readPids(t, pidFile, 2)
	if pids[0] != p.Pid() {
		t.Errorf("leader pid %d, process says %d", pids[0], p.Pid())
	}
	begin := time.Now()
	p.stop(200 * time.Millisecond)
	if d := time.Since(begin); d < 200*time.Millisecond {
		t.Errorf("stop took %s: it did not wait for the grace period", d)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("stop returned before the process was reaped")
	}
	if status, code := p.exitStatus(); code != -1 || status != "signal: killed" {
		t.Errorf("exit status %q (%d), want killed", status, code)
	}
	waitGone(t, pids)
}

func TestProcessStopTermsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	p := startShell(t, "sleep 600 & echo $$ $! > "+pidFile+"; wait")
	pids := readPids(t, pidFile, 2)
	begin := time.Now()
	p.stop(10 * time.Second)
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("stop took %s although SIGTERM ends the process", d)
	}
	if status, _ := p.exitStatus(); status != "signal: terminated" {
		t.Errorf("exit status %q", status)
	}
	waitGone(t, pids)
}

func TestProcessExitSweepsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	// The leader leaves a background child behind and exits at once.
	p := startShell(t, "sleep 600 & echo $$ $! > "+pidFile)
	<-p.Done()
	if status, code := p.exitStatus(); code != 0 {
		t.Errorf("exit status %q", status)
	}
	waitGone(t, readPids(t, pidFile, 2))
}

func TestProcessStartError(t *testing.T) {
	out, _ := os.CreateTemp(t.TempDir(), "out")
	defer out.Close()
	if _, err := startProcess(filepath.Join(t.TempDir(), "none"), nil, t.TempDir(), out); err == nil {
		t.Error("starting a missing executable: no error")
	}
}
