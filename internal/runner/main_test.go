package runner

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

// standin is the path of the stata-standin binary built by TestMain.
var standin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runner-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	standin = filepath.Join(dir, "stata-standin")
	out, err := exec.Command("go", "build", "-o", standin,
		"github.com/caddy-stata/caddy-stata/cmd/stata-standin").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the stand-in: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testConfig returns a Config for tests: the stand-in as Stata, a private
// work directory and short intervals.
func testConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		Stata:            standin,
		WorkDir:          t.TempDir(),
		ProgressInterval: 50 * time.Millisecond,
		KillGrace:        300 * time.Millisecond,
		Logger:           zaptest.NewLogger(t),
	}
}

// serve starts a Runner for cfg behind an httptest server. Both are closed
// when the test ends, after the clients.
func serve(t *testing.T, cfg Config, hook func(job, outcome)) (*Runner, string) {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.hookRunDone = hook
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r, srv.URL
}

// progressLog collects the progress notifications a client receives, by token.
type progressLog struct {
	mu    sync.Mutex
	byTok map[string][]*mcp.ProgressNotificationParams
	subs  []progressSub
}

// A progressSub waits for a notification matching a predicate.
type progressSub struct {
	tok   string
	match func(*mcp.ProgressNotificationParams) bool
	ch    chan struct{}
}

func newProgressLog() *progressLog {
	return &progressLog{byTok: make(map[string][]*mcp.ProgressNotificationParams)}
}

func (l *progressLog) handle(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	tok := fmt.Sprint(req.Params.ProgressToken)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byTok[tok] = append(l.byTok[tok], req.Params)
	kept := l.subs[:0]
	for _, s := range l.subs {
		if s.tok == tok && s.match(req.Params) {
			close(s.ch)
			continue
		}
		kept = append(kept, s)
	}
	l.subs = kept
}

// waitFor returns a channel closed when tok gets a notification whose message
// contains substr (one already received counts).
func (l *progressLog) waitFor(tok, substr string) <-chan struct{} {
	match := func(p *mcp.ProgressNotificationParams) bool { return strings.Contains(p.Message, substr) }
	ch := make(chan struct{})
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.byTok[tok] {
		if match(p) {
			close(ch)
			return ch
		}
	}
	l.subs = append(l.subs, progressSub{tok: tok, match: match, ch: ch})
	return ch
}

// get returns the notifications received for tok.
func (l *progressLog) get(tok string) []*mcp.ProgressNotificationParams {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*mcp.ProgressNotificationParams(nil), l.byTok[tok]...)
}

// connect opens an MCP client session to url, closed when the test ends.
func connect(t *testing.T, url string, pl *progressLog) *mcp.ClientSession {
	t.Helper()
	opts := &mcp.ClientOptions{}
	if pl != nil {
		opts.ProgressNotificationHandler = pl.handle
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "runner-test", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// call calls a tool, with a progress token if tok is not empty, and fails the
// test on a protocol error.
func call(t *testing.T, ctx context.Context, cs *mcp.ClientSession, tool string, args map[string]any, tok string) *mcp.CallToolResult {
	t.Helper()
	res, err := callErr(ctx, cs, tool, args, tok)
	if err != nil {
		t.Fatalf("%s: protocol error: %v", tool, err)
	}
	return res
}

// callErr calls a tool and returns the protocol error, if any.
func callErr(ctx context.Context, cs *mcp.ClientSession, tool string, args map[string]any, tok string) (*mcp.CallToolResult, error) {
	p := &mcp.CallToolParams{Name: tool, Arguments: args}
	if tok != "" {
		p.SetProgressToken(tok)
	}
	return cs.CallTool(ctx, p)
}

// text returns the text content of a result.
func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// writeDo writes a do-file and returns its path.
func writeDo(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pidWrapper writes a script to use as Stata: it records its pid (which stays
// the stand-in's, by exec) and the pid of a background sleep that ignores
// SIGTERM in the same process group, then runs the stand-in. It returns the
// script's path and a function reading the recorded pids.
func pidWrapper(t *testing.T) (string, func() []int) {
	t.Helper()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	script := filepath.Join(dir, "stata-wrapper")
	src := fmt.Sprintf(`#!/bin/sh
echo $$ >> '%s'
( trap '' TERM; exec sleep 600 ) &
echo $! >> '%s'
exec '%s' "$@"
`, pidFile, pidFile, standin)
	if err := os.WriteFile(script, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, func() []int {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatalf("reading pids: %v", err)
		}
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("pid %q: %v", f, err)
			}
			pids = append(pids, n)
		}
		return pids
	}
}

// processGone reports whether pid no longer runs (a zombie left for init to
// reap counts as gone).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'Z' || b[i+2] == 'X'
}

// waitGone waits until every pid is gone. A signalled process dies
// asynchronously and is not our child, so there is nothing to wait on but
// /proc.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for !processGone(pid) {
			if time.Now().After(deadline) {
				t.Errorf("process %d is still running", pid)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
