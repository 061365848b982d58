package runner

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"
)

// The tools, named and shaped as stata-mcp's.
const (
	toolRunFile      = "stata_run_file"
	toolRunSelection = "stata_run_selection"
)

// RunFileArgs are the arguments of stata_run_file.
type RunFileArgs struct {
	// FilePath is the do-file to run.
	FilePath string `json:"file_path" jsonschema:"path of the do-file to run: absolute, or relative to working_dir; ~ means the server user's home"`
	// Timeout is the run's limit in seconds; 0 means the server's limit.
	Timeout float64 `json:"timeout,omitempty" jsonschema:"time limit of the run in seconds; at most the server's limit, which is also the default"`
	// WorkingDir is the current directory of the do-file.
	WorkingDir string `json:"working_dir,omitempty" jsonschema:"directory the do-file runs in, which its relative paths are relative to; default: the do-file's own directory"`
	// Isolated runs the do-file in a fresh batch process instead of the
	// caller's Stata session.
	Isolated bool `json:"isolated,omitempty" jsonschema:"run in a fresh Stata batch process instead of this MCP session's Stata session, whose data and state it then neither sees nor changes"`
	// SessionID is stata-mcp's name of a session; there is one Stata
	// session per MCP session here, so it is accepted and not needed.
	SessionID string `json:"session_id,omitempty" jsonschema:"accepted for stata-mcp's clients; each MCP session has its own Stata session, which every call of it uses"`
}

// RunSelectionArgs are the arguments of stata_run_selection.
type RunSelectionArgs struct {
	// Code is the Stata code to run.
	Code string `json:"code,omitempty" jsonschema:"Stata code to run, as the lines of a do-file (required, here or as selection)"`
	// Selection is the name stata-mcp gives the code; either may be used, so
	// that prompts written for stata-mcp keep working.
	Selection string `json:"selection,omitempty" jsonschema:"the same as code, under the name stata-mcp uses"`
	// Timeout is the run's limit in seconds; 0 means the server's limit.
	Timeout float64 `json:"timeout,omitempty" jsonschema:"time limit of the run in seconds; at most the server's limit, which is also the default"`
	// WorkingDir is the current directory of the code.
	WorkingDir string `json:"working_dir,omitempty" jsonschema:"directory the code runs in (cd), which its relative paths are relative to; default: the session's current directory, or in an isolated run a scratch directory removed after the call"`
	// Isolated runs the code in a fresh batch process instead of the
	// caller's Stata session.
	Isolated bool `json:"isolated,omitempty" jsonschema:"run in a fresh Stata batch process instead of this MCP session's Stata session, whose data and state it then neither sees nor changes"`
	// SessionID is stata-mcp's name of a session, accepted as in
	// RunFileArgs.
	SessionID string `json:"session_id,omitempty" jsonschema:"accepted for stata-mcp's clients; each MCP session has its own Stata session, which every call of it uses"`
}

// RunResult is the structured result of both tools; the text content of a
// result says the same for people and models.
type RunResult struct {
	// Status is ok, stata_error, timeout, cancelled or failed.
	Status string `json:"status" jsonschema:"ok, stata_error (the do-file stopped with r(n);), timeout, cancelled or failed"`
	// ErrorCode is Stata's return code when Status is stata_error.
	ErrorCode int `json:"error_code,omitempty" jsonschema:"Stata's return code n from r(n); when status is stata_error"`
	// ExitStatus is how the Stata process ended.
	ExitStatus string `json:"exit_status,omitempty" jsonschema:"how the Stata process ended, e.g. exit status 0 (Stata's batch mode exits 0 even after an error)"`
	// DurationSeconds is how long Stata ran.
	DurationSeconds float64 `json:"duration_seconds" jsonschema:"how long Stata ran, in seconds"`
	// QueuedSeconds is how long the call waited for a worker.
	QueuedSeconds float64 `json:"queued_seconds,omitempty" jsonschema:"how long the call waited for a free Stata worker, in seconds"`
	// LogPath is where the full log is.
	LogPath string `json:"log_path" jsonschema:"path of the full Stata log on the server; see log_removed and log_kept_until"`
	// LogRemoved says the log at LogPath was removed once the result was
	// ready: the server keeps no logs (its keep_logs setting is 0).
	LogRemoved bool `json:"log_removed,omitempty" jsonschema:"whether the log at log_path is already gone: the server keeps logs only when its keep_logs setting says so"`
	// LogKeptUntil is when the log at LogPath will be removed, when the
	// server keeps logs.
	LogKeptUntil string `json:"log_kept_until,omitempty" jsonschema:"when the log at log_path will be removed (RFC 3339), if the server keeps logs"`
	// LogTruncated says the log text in the result lacks a middle part.
	LogTruncated bool `json:"log_truncated,omitempty" jsonschema:"whether the log text in the result lacks a middle part (over max_output)"`
	// Isolated says the call ran in a batch process of its own.
	Isolated bool `json:"isolated,omitempty" jsonschema:"whether the call ran in a fresh batch process rather than in the MCP session's Stata session"`
	// SessionPID is the process id of the Stata session the call ran in.
	SessionPID int `json:"session_pid,omitempty" jsonschema:"process id of the Stata session the call ran in"`
	// SessionNote says what happened to the session before this call, when
	// the call runs in a new one that replaced it.
	SessionNote string `json:"session_note,omitempty" jsonschema:"why this call runs in a new Stata session: what ended the previous one"`
	// Graphs is the number of graphs returned as images.
	Graphs int `json:"graphs,omitempty" jsonschema:"how many graphs the result carries as PNG image contents, after the text"`
}

// argsSchema returns the input schema of T: inferred from its fields, but
// open to arguments it does not know (clients of stata-mcp send a few more).
func argsSchema[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic(fmt.Sprintf("schema for %T: %v", *new(T), err)) // a programming error, caught by any test
	}
	s.AdditionalProperties = nil
	return s
}

// addTools registers the Runner's tools on s.
func (r *Runner) addTools(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{
		Name:  toolRunFile,
		Title: "Run a Stata do-file",
		Description: "Runs a Stata do-file on the server, in this MCP session's Stata session (do \"<file>\"), " +
			"so data and other state loaded by earlier calls are there and stay for later ones; isolated: true runs it " +
			"in a fresh batch process instead. Returns the output, duration and log path, then each graph drawn as a PNG image. " +
			"A Stata error (r(n);) makes the result an error naming n. Long runs report progress: the command running, " +
			"and how many of the file's commands have run.",
		InputSchema: argsSchema[RunFileArgs](),
	}, r.runFile)
	mcp.AddTool(s, &mcp.Tool{
		Name:  toolRunSelection,
		Title: "Run Stata code",
		Description: "Runs Stata code on the server, as a do-file, in this MCP session's Stata session, " +
			"so data and other state loaded by earlier calls are there and stay for later ones; isolated: true runs it " +
			"in a fresh batch process instead. Returns the output, duration and log path, then each graph drawn as a PNG image. " +
			"A Stata error (r(n);) makes the result an error naming n. Long runs report progress: the command running, " +
			"and how many of the code's commands have run.",
		InputSchema: argsSchema[RunSelectionArgs](),
	}, r.runSelection)
}

// prepare checks what both tools need before a run: that Stata is there,
// the run's time limit, and the working directory ("" for the default),
// which it returns with its symbolic links resolved.
func (r *Runner) prepare(timeoutSeconds float64, workingDir string) (time.Duration, string, error) {
	if err := r.ready(); err != nil {
		return 0, "", err
	}
	timeout, err := r.timeoutFor(timeoutSeconds)
	if err != nil {
		return 0, "", err
	}
	wd, err := checkDir(workingDir)
	if err != nil || wd == "" {
		return timeout, wd, err
	}
	wd, err = r.resolveAllowed("working_dir", wd)
	return timeout, wd, err
}

// runFile is the handler of stata_run_file.
func (r *Runner) runFile(ctx context.Context, req *mcp.CallToolRequest, in RunFileArgs) (*mcp.CallToolResult, RunResult, error) {
	timeout, wd, err := r.prepare(in.Timeout, in.WorkingDir)
	if err != nil {
		return nil, RunResult{}, err
	}
	if strings.TrimSpace(in.FilePath) == "" {
		return nil, RunResult{}, errors.New("file_path is required: the path of the do-file to run")
	}
	path := expandHome(in.FilePath)
	if !filepath.IsAbs(path) {
		if wd == "" {
			return nil, RunResult{}, fmt.Errorf("file_path %q is relative: give an absolute path, or a working_dir it is relative to", in.FilePath)
		}
		path = filepath.Join(wd, path)
	}
	path = filepath.Clean(path)
	fi, err := os.Stat(path)
	switch {
	case isNotExist(err):
		return nil, RunResult{}, fmt.Errorf("do-file not found: %s", path)
	case err != nil:
		return nil, RunResult{}, fmt.Errorf("cannot read the do-file: %w", err)
	case fi.IsDir():
		return nil, RunResult{}, fmt.Errorf("file_path is a directory, not a do-file: %s", path)
	case !fi.Mode().IsRegular():
		return nil, RunResult{}, fmt.Errorf("file_path is not a regular file: %s", path)
	}
	resolved, err := r.resolveAllowed("file_path", path)
	if err != nil {
		return nil, RunResult{}, err
	}
	if wd == "" {
		wd = filepath.Dir(resolved)
	}
	return r.runDoFile(ctx, req, toolRunFile, path, resolved, "", wd, timeout, in.Isolated)
}

// runSelection is the handler of stata_run_selection.
func (r *Runner) runSelection(ctx context.Context, req *mcp.CallToolRequest, in RunSelectionArgs) (*mcp.CallToolResult, RunResult, error) {
	timeout, wd, err := r.prepare(in.Timeout, in.WorkingDir)
	if err != nil {
		return nil, RunResult{}, err
	}
	code := in.Code
	switch {
	case code == "":
		code = in.Selection
	case in.Selection != "" && in.Selection != code:
		return nil, RunResult{}, errors.New("code and selection are two names for the same argument; give one")
	}
	if strings.TrimSpace(code) == "" {
		return nil, RunResult{}, errors.New("code is required: the Stata code to run (stata-mcp calls it selection; either name works)")
	}
	if !strings.HasSuffix(code, "\n") {
		code += "\n"
	}
	return r.runDoFile(ctx, req, toolRunSelection, "", "", code, wd, timeout, in.Isolated)
}

// runDoFile runs a do-file in dir and turns the outcome into a result: the
// file at doFile (shown as shown), or, when code is not empty, that code,
// written to a do-file. Stata is given a wrapper do-file in a directory of
// the call's own, and the wrapper changes to dir and runs the do-file. The
// call runs in the MCP session's Stata session, where "" for dir keeps the
// session's current directory, unless isolated is set or the client has no
// MCP session: then it runs in a batch process of its own, which writes its
// log in the call's directory, and "" for dir means that directory. The
// call's directory is removed once the result is ready, or KeepLogs later.
func (r *Runner) runDoFile(ctx context.Context, req *mcp.CallToolRequest, tool, shown, doFile, code, dir string, timeout time.Duration, isolated bool) (*mcp.CallToolResult, RunResult, error) {
	key := ""
	if !isolated && req != nil && req.Session != nil {
		key = req.Session.ID()
	}
	callDir, err := r.newCallDir()
	if err != nil {
		return nil, RunResult{}, err
	}
	kept := false
	defer func() {
		if !kept {
			r.removeCallDir(callDir)
		}
	}()
	if code != "" && key == "" {
		doFile = filepath.Join(callDir, selectionName)
		shown = doFile
		if err := os.WriteFile(doFile, []byte(code), 0o600); err != nil {
			return nil, RunResult{}, fmt.Errorf("writing the do-file for the code: %w", err)
		}
	}
	if dir == "" && key == "" {
		dir = callDir
	}
	if dir != "" {
		if err := checkStataQuotable("working_dir", dir); err != nil {
			return nil, RunResult{}, err
		}
	}
	if doFile != "" {
		if err := checkStataQuotable("file_path", doFile); err != nil {
			return nil, RunResult{}, err
		}
	}
	var runDo, startLine string
	if key != "" {
		runDo, startLine, err = writeSessionWrapper(callDir, dir, doFile, code)
		if code != "" {
			shown = runDo
		}
	} else {
		runDo, err = filepath.Join(callDir, wrapperName), writeWrapper(callDir, dir, doFile)
	}
	if err != nil {
		return nil, RunResult{}, err
	}

	if !r.startRun() {
		return nil, RunResult{}, errors.New("the server is shutting down; try again shortly")
	}
	defer r.endRun()

	var notify notifyFunc
	var token any
	if req != nil && req.Session != nil && req.Params != nil {
		notify, token = req.Session.NotifyProgress, req.Params.GetProgressToken()
	}
	prog := newProgress(notify, token, r.cfg.ProgressInterval)
	logPath := filepath.Join(callDir, wrapperLog)
	var (
		o      outcome
		graphs []string
	)
	if key != "" {
		total := countCommands(code)
		if code == "" {
			total = countFile(doFile)
		}
		o, graphs, err = r.runInSession(ctx, key, req.Session, blockSpec{
			runDo: runDo, target: shown, startLine: startLine, logPath: logPath, callDir: callDir,
			total: total, timeout: timeout, maxGraphs: r.maxGraphs(), maxOutput: r.cfg.MaxOutput,
		}, tool, prog)
	} else {
		o, err = r.execute(ctx, job{tool: tool, doFile: runDo, target: doFile,
			dir: callDir, logPath: logPath, timeout: timeout}, prog)
		o.isolated = true
		if errors.Is(err, errQueueFull) {
			return nil, RunResult{}, fmt.Errorf("all %d Stata workers are busy and the queue is full; try again later (%w)", r.cfg.Workers, err)
		}
		if err != nil {
			return nil, RunResult{}, fmt.Errorf("cannot run Stata now: %w", err)
		}
	}
	if err != nil {
		return nil, RunResult{}, err
	}
	var until time.Time
	if r.cfg.KeepLogs > 0 {
		kept = true
		until = time.Now().Add(r.cfg.KeepLogs)
		time.AfterFunc(r.cfg.KeepLogs, func() { r.removeCallDir(callDir) })
	}
	res, out := formatResult(o, logPath, shown, until)
	for _, g := range graphs {
		png, err := os.ReadFile(g)
		if err != nil {
			r.log.Warn("reading an exported graph", zap.String("file", g), zap.Error(err))
			continue
		}
		res.Content = append(res.Content, &mcp.ImageContent{Data: png, MIMEType: "image/png"})
		out.Graphs++
	}
	return res, out, nil
}

// maxGraphs is the most graphs a call exports; 0 when graphs are off.
func (r *Runner) maxGraphs() int {
	if r.cfg.NoGraphs {
		return 0
	}
	return r.cfg.MaxGraphs
}

// maxCountedFile is the largest do-file whose commands are counted for
// progress.
const maxCountedFile = 8 << 20

// countFile counts the commands of the do-file at path; 0 when it cannot be
// read or is too large to count.
func countFile(path string) int {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() > maxCountedFile {
		return 0
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return countCommands(string(b))
}

// formatResult turns an outcome into the tool's result: a text with a
// summary, the exit status, duration and log path, then the log; and the same
// facts as structured content. keptUntil is when the log will be removed;
// zero means it is removed with the result.
func formatResult(o outcome, logPath, doFile string, keptUntil time.Time) (*mcp.CallToolResult, RunResult) {
	out := RunResult{
		Status:          o.status,
		ErrorCode:       o.code,
		ExitStatus:      o.exit,
		DurationSeconds: math.Round(o.duration.Seconds()*1000) / 1000,
		QueuedSeconds:   math.Round(o.queued.Seconds()*1000) / 1000,
		LogPath:         logPath,
		LogTruncated:    o.log.Truncated,
		LogRemoved:      keptUntil.IsZero(),
		Isolated:        o.isolated,
		SessionNote:     o.note,
	}
	if !o.isolated {
		out.SessionPID = o.pid
	}
	if !keptUntil.IsZero() {
		out.LogKeptUntil = keptUntil.UTC().Format(time.RFC3339)
	}
	var b strings.Builder
	if o.note != "" {
		fmt.Fprintf(&b, "%s\n", o.note)
	}
	switch o.status {
	case statusOK:
		fmt.Fprintf(&b, "Stata ran %s to its end without error.\n", doFile)
	case statusStataError:
		fmt.Fprintf(&b, "Stata error r(%d): the do-file %s stopped at an error; see the end of the log.\n", o.code, doFile)
	case statusTimeout:
		fmt.Fprintf(&b, "Timed out: %s. The log so far follows.\n", o.reason)
	case statusCancelled:
		fmt.Fprintf(&b, "Cancelled: %s.", o.reason)
		if o.ran {
			b.WriteString(" The log so far follows.")
		}
		b.WriteString("\n")
	default:
		fmt.Fprintf(&b, "Stata failed: %s.\n", o.reason)
	}
	switch {
	case o.ran && o.exit != "":
		fmt.Fprintf(&b, "exit status: %s\n", o.exit)
	case o.ran:
		fmt.Fprintf(&b, "session: Stata pid %d (this MCP session's; isolated: true runs a fresh batch process instead)\n", o.pid)
	}
	if o.ran {
		fmt.Fprintf(&b, "duration: %s\n", o.duration.Round(time.Millisecond))
	}
	if o.queued >= time.Second {
		fmt.Fprintf(&b, "queued: %s\n", o.queued.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "log: %s", logPath)
	switch {
	case o.log.Truncated:
		fmt.Fprintf(&b, " (%d bytes; the middle is left out below)", o.log.Size)
	case o.logErr != nil && o.ran:
		b.WriteString(" (no log)")
	}
	if keptUntil.IsZero() {
		b.WriteString(" (removed now that this result is ready; the server keeps logs only with keep_logs)")
	} else {
		fmt.Fprintf(&b, " (kept until %s)", out.LogKeptUntil)
	}
	b.WriteString("\n")
	if o.output != "" {
		fmt.Fprintf(&b, "\nStata's output outside the log:\n%s\n", o.output)
	}
	if o.log.Text != "" {
		fmt.Fprintf(&b, "\n%s", o.log.Text)
	}
	return &mcp.CallToolResult{
		Content: []mcp.Content{&mcp.TextContent{Text: b.String()}},
		IsError: o.status != statusOK,
	}, out
}

// timeoutFor returns the limit of a run that asked for seconds (0: none).
func (r *Runner) timeoutFor(seconds float64) (time.Duration, error) {
	switch {
	case math.IsNaN(seconds) || seconds < 0:
		return 0, fmt.Errorf("timeout must be a positive number of seconds, not %v", seconds)
	case seconds == 0:
		return r.cfg.Timeout, nil
	}
	d := time.Duration(seconds * float64(time.Second))
	if d <= 0 || d > r.cfg.Timeout || math.IsInf(seconds, 1) {
		return r.cfg.Timeout, nil
	}
	return d, nil
}

// checkDir validates a working_dir argument and returns it cleaned; "" stays "".
func checkDir(dir string) (string, error) {
	if strings.TrimSpace(dir) == "" {
		return "", nil
	}
	d := expandHome(dir)
	if !filepath.IsAbs(d) {
		return "", fmt.Errorf("working_dir %q is relative: give an absolute path", dir)
	}
	d = filepath.Clean(d)
	fi, err := os.Stat(d)
	switch {
	case isNotExist(err):
		return "", fmt.Errorf("working_dir not found: %s", d)
	case err != nil:
		return "", fmt.Errorf("cannot use working_dir: %w", err)
	case !fi.IsDir():
		return "", fmt.Errorf("working_dir is not a directory: %s", d)
	}
	return d, nil
}

// expandHome replaces a leading ~ with the home directory of the user running
// the server.
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, p[1:])
}

// randomID returns a short random name part.
func randomID() string {
	return strings.ToLower(rand.Text()[:10])
}
