package runner

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// resultOf returns the structured content of a result.
func resultOf(t *testing.T, v any) RunResult {
	t.Helper()
	var out RunResult
	b, _ := json.Marshal(v)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return out
}

// TestKeepLogs checks that with KeepLogs the call's log is there after the
// result, as the result says, and gone once the time is up.
func TestKeepLogs(t *testing.T) {
	cfg := testConfig(t)
	cfg.KeepLogs = 500 * time.Millisecond
	_, url := serve(t, cfg, nil)
	cs := connect(t, url, nil)
	res := call(t, context.Background(), cs, toolRunSelection, map[string]any{"isolated": true, "code": "display \"kept\""}, "")
	out := resultOf(t, res.StructuredContent)
	if res.IsError || out.LogRemoved || out.LogKeptUntil == "" || !strings.Contains(text(res), "(kept until ") {
		t.Fatalf("result %+v:\n%s", out, text(res))
	}
	b, err := os.ReadFile(out.LogPath)
	if err != nil || !strings.Contains(string(b), "\nkept\n") {
		t.Fatalf("kept log: %v\n%s", err, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, _ := os.ReadDir(cfg.WorkDir)
		if len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the work directory still holds %d entries after keep_logs", len(entries))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAllowedDirs checks that file_path and working_dir must resolve inside
// an allowed directory: a file outside, a ../ escape and a symbolic link that
// leaves are refused with an error naming the setting; a file inside runs.
func TestAllowedDirs(t *testing.T) {
	allowed := t.TempDir()
	outside := t.TempDir()
	inside := writeDo(t, allowed, "in.do", "display \"inside\"\n")
	away := writeDo(t, outside, "out.do", "display \"outside\"\n")
	if err := os.Symlink(away, filepath.Join(allowed, "link.do")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "linkdir")); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.AllowedDirs = []string{allowed}
	_, url := serve(t, cfg, nil)
	cs := connect(t, url, nil)

	res := call(t, context.Background(), cs, toolRunFile, map[string]any{"file_path": inside}, "")
	if res.IsError || !strings.Contains(text(res), "\ninside\n") {
		t.Fatalf("inside: %s", text(res))
	}
	for name, args := range map[string]map[string]any{
		"outside":       {"file_path": away},
		"dot-dot":       {"file_path": filepath.Join(allowed, "..", filepath.Base(outside), "out.do")},
		"relative":      {"file_path": "../" + filepath.Base(outside) + "/out.do", "working_dir": allowed},
		"symlink":       {"file_path": filepath.Join(allowed, "link.do")},
		"symlinked dir": {"file_path": filepath.Join(allowed, "linkdir", "out.do")},
		"working_dir":   {"file_path": inside, "working_dir": outside},
	} {
		res := call(t, context.Background(), cs, toolRunFile, args, "")
		if !res.IsError || !strings.Contains(text(res), "allowed_dirs") || strings.Contains(text(res), "\noutside\n") {
			t.Errorf("%s: want a refusal naming allowed_dirs, got:\n%s", name, text(res))
		}
	}
	res = call(t, context.Background(), cs, toolRunSelection, map[string]any{"code": "display 1", "working_dir": outside}, "")
	if !res.IsError || !strings.Contains(text(res), "allowed_dirs") {
		t.Errorf("selection outside: %s", text(res))
	}

	cfg.AllowedDirs = []string{filepath.Join(outside, "missing")}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "allowed_dirs") {
		t.Errorf("New with a missing allowed directory: %v", err)
	}
}

// TestSweep checks that a new Runner removes the call directories of a
// process that is gone, and leaves its own process's and everything else.
func TestSweep(t *testing.T) {
	cfg := testConfig(t)
	// A pid that surely ran and ended: a child just reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	for _, name := range []string{
		callDirPrefix + itoa(dead) + "-20260101-000000-aaaa",
		callDirPrefix + itoa(os.Getpid()) + "-20260101-000000-bbbb",
		"mine",
	} {
		if err := os.MkdirAll(filepath.Join(cfg.WorkDir, name, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cfg.WorkDir, callDirPrefix+itoa(dead)+"-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := []string{
		callDirPrefix + itoa(dead) + "-file",
		callDirPrefix + itoa(os.Getpid()) + "-20260101-000000-bbbb",
		"mine",
	}
	sort.Strings(want)
	assertEntries(t, cfg.WorkDir, want...)
}

var itoa = strconv.Itoa
