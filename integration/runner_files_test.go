package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// runnerResult is the structured content of a stata_runner result.
type runnerResult struct {
	Status       string `json:"status"`
	LogPath      string `json:"log_path"`
	LogRemoved   bool   `json:"log_removed"`
	LogKeptUntil string `json:"log_kept_until"`
}

// runnerSession connects the Go SDK client to url for a series of calls.
func runnerSession(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "integration-go-client", Version: "1.0.0"}, nil)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: url, HTTPClient: &http.Client{Transport: tr}, DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// runnerCall calls a tool and returns its text and structured content.
func runnerCall(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) (string, bool, runnerResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	var txt string
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(*mcp.TextContent); ok {
			txt = tc.Text
		}
	}
	var out runnerResult
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("structured content %s: %v", b, err)
		}
	}
	return txt, res.IsError, out
}

// listing returns every path under dir with its mode, size and modification
// time, for comparing a directory before and after. The time of dir itself is
// left out unless rootTime: it changes when an entry is made and removed.
func listing(t *testing.T, dir string, rootTime bool) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		line := p + " " + fi.Mode().String()
		if p != dir || rootTime {
			line += " " + itoa(fi.Size()) + " " + fi.ModTime().String()
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestStataRunnerLeavesNoFiles checks, through the built binary, where the
// runner puts files: a do-file in a read-only directory runs and nothing is
// written beside it (the test runs as root, which could write there anyway,
// so the directory's listing is compared); 100 selection calls leave
// work_dir as it was; and with keep_logs the log named in the result is
// there to open. The first two make isolated (batch) runs: a Stata session
// keeps a directory of its own in work_dir while it lives (see
// TestStataSessionLeavesNoFiles).
func TestStataRunnerLeavesNoFiles(t *testing.T) {
	t.Run("read-only directory", func(t *testing.T) {
		t.Parallel()
		workDir := t.TempDir()
		c := startStataIn(t, standin, workDir, "")
		dir := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		doFile := filepath.Join(dir, "analysis.do")
		if err := os.WriteFile(doFile, []byte("display \"read only\"\n"), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		before, workBefore := listing(t, dir, true), listing(t, workDir, false)
		cs := runnerSession(t, c.URL+"/mcp")
		txt, isErr, out := runnerCall(t, cs, "stata_run_file", map[string]any{"file_path": doFile, "isolated": true})
		if isErr || out.Status != "ok" || !strings.Contains(txt, "\nread only\n") {
			t.Fatalf("run: isError=%v %+v\n%s", isErr, out, txt)
		}
		if !strings.Contains(txt, ". cd \""+dir+"\"\n") {
			t.Errorf("the do-file did not run in its own directory:\n%s", txt)
		}
		if !strings.HasPrefix(out.LogPath, workDir+"/") || !out.LogRemoved {
			t.Errorf("log %q (removed %v), want one under work_dir %s, removed", out.LogPath, out.LogRemoved, workDir)
		}
		if after := listing(t, dir, true); after != before {
			t.Errorf("the do-file's directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if after := listing(t, workDir, false); after != workBefore {
			t.Errorf("work_dir changed:\nbefore:\n%s\nafter:\n%s", workBefore, after)
		}
	})

	t.Run("100 selections", func(t *testing.T) {
		t.Parallel()
		workDir := t.TempDir()
		c := startStataIn(t, standin, workDir, "workers 2")
		before := listing(t, workDir, false)
		cs := runnerSession(t, c.URL+"/mcp")
		for i := range 100 {
			txt, isErr, out := runnerCall(t, cs, "stata_run_selection", map[string]any{"code": "display \"call\" " + itoa(int64(i)), "isolated": true})
			if isErr || !strings.Contains(txt, "\ncall"+itoa(int64(i))+"\n") || !out.LogRemoved {
				t.Fatalf("call %d: isError=%v %+v\n%s", i, isErr, out, txt)
			}
		}
		if after := listing(t, workDir, false); after != before {
			t.Errorf("work_dir changed after 100 calls:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("keep_logs", func(t *testing.T) {
		t.Parallel()
		c := startStata(t, standin, "keep_logs 1m")
		cs := runnerSession(t, c.URL+"/mcp")
		txt, isErr, out := runnerCall(t, cs, "stata_run_selection", map[string]any{"code": "display \"keep me\""})
		if isErr || out.LogRemoved || out.LogKeptUntil == "" || !strings.Contains(txt, "(kept until ") {
			t.Fatalf("isError=%v %+v\n%s", isErr, out, txt)
		}
		until, err := time.Parse(time.RFC3339, out.LogKeptUntil)
		if err != nil || time.Until(until) < 30*time.Second {
			t.Errorf("log_kept_until %q: %v", out.LogKeptUntil, err)
		}
		b, err := os.ReadFile(out.LogPath)
		if err != nil || !strings.Contains(string(b), "\nkeep me\n") {
			t.Fatalf("the kept log: %v\n%s", err, b)
		}
	})
}

// TestStataRunnerAllowedDirs checks allowed_dirs through the built binary:
// /etc/hostname, a ../ escape and symbolic links that leave the allowed
// directory are refused with an error naming the setting, and a file inside
// runs.
func TestStataRunnerAllowedDirs(t *testing.T) {
	allowed := filepath.Join(t.TempDir(), "projects")
	if err := os.Mkdir(allowed, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	inside := filepath.Join(allowed, "in.do")
	away := filepath.Join(outside, "out.do")
	for path, src := range map[string]string{inside: "display \"inside\"\n", away: "display \"outside\"\n"} {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(away, filepath.Join(allowed, "link.do")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	c := startStata(t, standin, "allowed_dirs "+allowed)
	cs := runnerSession(t, c.URL+"/mcp")

	txt, isErr, out := runnerCall(t, cs, "stata_run_file", map[string]any{"file_path": inside})
	if isErr || out.Status != "ok" || !strings.Contains(txt, "\ninside\n") {
		t.Fatalf("inside: isError=%v\n%s", isErr, txt)
	}
	for name, args := range map[string]map[string]any{
		"/etc/hostname":      {"file_path": "/etc/hostname"},
		"../ escape":         {"file_path": allowed + "/../../" + filepath.Base(filepath.Dir(allowed)) + "/../" + filepath.Base(outside) + "/out.do"},
		"relative ../":       {"file_path": "../../" + filepath.Base(outside) + "/out.do", "working_dir": allowed},
		"symlinked file":     {"file_path": filepath.Join(allowed, "link.do")},
		"symlinked dir":      {"file_path": filepath.Join(allowed, "elsewhere", "out.do")},
		"working_dir":        {"file_path": inside, "working_dir": outside},
		"symlinked work dir": {"file_path": inside, "working_dir": filepath.Join(allowed, "elsewhere")},
	} {
		txt, isErr, _ := runnerCall(t, cs, "stata_run_file", args)
		if !isErr || !strings.Contains(txt, "allowed_dirs") || strings.Contains(txt, "\noutside\n") {
			t.Errorf("%s: want a tool error naming allowed_dirs, got isError=%v:\n%s", name, isErr, txt)
		}
	}
	txt, isErr, _ = runnerCall(t, cs, "stata_run_selection", map[string]any{"code": "display 1", "working_dir": "/etc"})
	if !isErr || !strings.Contains(txt, "allowed_dirs") {
		t.Errorf("selection in /etc: isError=%v:\n%s", isErr, txt)
	}
}
