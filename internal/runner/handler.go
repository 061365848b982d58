package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"
)

// A Runner is an MCP server, served over the Streamable HTTP transport, whose
// tools run Stata do-files in batch mode. It is an http.Handler: mount it
// where MCP clients post, and a GET asking for JSON there gets its health.
//
// The transport is the Go SDK's StreamableHTTPHandler with stateful sessions:
// a session is needed for notifications/cancelled, which arrives in a POST of
// its own, to reach the call it cancels. Calls answer on an SSE stream, so
// progress notifications reach the client while Stata runs. The SDK's
// DNS-rebinding protection stays on unless the Config turns it off: a request
// that reached the server through a loopback address with a Host that is not
// loopback gets 403. Served in-process by Caddy, the request the SDK sees is
// the client's own, with the client's Host and Caddy's local address, so the
// check matters only when the connection to Caddy itself comes over loopback:
// a tunnel or a proxy on the same machine, or a Caddy reverse_proxy (for
// example behind mcp_keepalive) to a loopback site; such a proxy should set
// the upstream's Host (header_up Host {upstream_hostport}), or the Config
// should set DisableLocalhostProtection.
type Runner struct {
	cfg      Config
	log      *zap.Logger
	pool     *pool
	sessions *sessions
	check    startCheck
	server   *mcp.Server
	handler  http.Handler
	workDir  string
	allowed  []string // AllowedDirs, resolved; empty: any

	mu       sync.Mutex
	stata    string // "" while no Stata is known
	closed   bool
	closing  chan struct{}  // closed by Close
	runs     sync.WaitGroup // runs in progress
	posts    sync.WaitGroup // POST requests in progress, until Close
	once     sync.Once
	closeErr error

	breakGrace  time.Duration      // how long Stata has to answer a Break in a session
	hookRunDone func(job, outcome) // for tests: called as each run ends
}

// New returns a Runner for cfg. It finds Stata (a Runner without Stata is
// still returned: its tools then answer with a tool error saying how to
// configure it), creates the work directory and removes from it what earlier
// processes left there. It fails only when the work directory or an allowed
// directory cannot be used.
func New(cfg Config) (*Runner, error) {
	cfg = cfg.withDefaults()
	r := &Runner{
		cfg:     cfg,
		log:     cfg.Logger,
		pool:    newPool(cfg.Workers, cfg.Queue),
		closing: make(chan struct{}),

		breakGrace: defaultBreakGrace,
	}
	var err error
	if r.workDir, err = prepareWorkDir(cfg.WorkDir); err != nil {
		return nil, err
	}
	if r.allowed, err = resolveAllowedDirs(cfg.AllowedDirs); err != nil {
		return nil, err
	}
	r.sweep()
	r.sessions = newSessions(cfg.Sessions, cfg.SessionIdle, r.workDir, cfg.KillGrace, r.log, r.stataPath, r.recordStart)
	r.stata = resolveStata(cfg.Stata)
	if r.stata == "" {
		r.log.Warn("stata not found; tool calls will fail until it is installed or configured",
			zap.String("configured", cfg.Stata))
	}

	r.server = mcp.NewServer(&mcp.Implementation{
		Name:    "caddy-stata",
		Title:   "Stata runner",
		Version: version(),
	}, &mcp.ServerOptions{
		Instructions: "Runs Stata do-files and Stata code on this server, in a Stata session of this MCP session's own: " +
			"data loaded by one call is there for the next. Paths are paths on the server. " +
			"Pass a progressToken to follow long runs.",
		Capabilities: &mcp.ServerCapabilities{}, // tools only: no logging capability
	})
	r.server.AddReceivingMiddleware(offerOnlyAdvertised)
	r.addTools(r.server)
	r.addSessionTool(r.server)
	r.handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return r.server },
		&mcp.StreamableHTTPOptions{
			SessionTimeout:               cfg.SessionTimeout,
			DisableLocalhostProtection:   cfg.DisableLocalhostProtection,
			PropagateRequestCancellation: true,
		})
	return r, nil
}

// ServeHTTP answers a GET that asks for application/json (and not for
// text/event-stream, as an MCP client's GET does) with the Runner's Health as
// JSON: status 200 when a run can start, 503 when not. It answers a POST of
// JSON that does not parse with a JSON-RPC parse error, and passes every
// other request to the MCP transport.
func (r *Runner) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if (req.Method == http.MethodGet || req.Method == http.MethodHead) && isHealthRequest(req) {
		h := r.Health()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		code := http.StatusOK
		if h.Status != "ok" {
			code = http.StatusServiceUnavailable
		}
		w.WriteHeader(code)
		if req.Method == http.MethodHead {
			return
		}
		_ = json.NewEncoder(w).Encode(h)
		return
	}
	if req.Method == http.MethodPost {
		if !r.checkBody(w, req) {
			return
		}
		r.mu.Lock()
		counted := !r.closed
		if counted {
			r.posts.Add(1)
		}
		r.mu.Unlock()
		if counted {
			defer r.posts.Done()
		}
	}
	r.handler.ServeHTTP(w, req)
}

// checkBody reads the body of a POST of JSON and answers it with a JSON-RPC
// error when it is too large (413) or does not parse (400, -32700), rather
// than the SDK's plain-text answer, which echoes the parser's message. It
// returns false when it answered; otherwise req.Body reads the same bytes
// again. A POST of another content type is left to the transport (415).
func (r *Runner) checkBody(w http.ResponseWriter, req *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt != "application/json" || req.Body == nil {
		return true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, mcp.DefaultMaxRequestBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeJSONRPCError(w, http.StatusRequestEntityTooLarge, jsonrpc.CodeInvalidRequest,
			fmt.Sprintf("request body exceeds %d bytes", mbe.Limit))
		return false
	case err != nil:
		writeJSONRPCError(w, http.StatusBadRequest, jsonrpc.CodeParseError, "parse error: the request body could not be read")
		return false
	case !json.Valid(body):
		writeJSONRPCError(w, http.StatusBadRequest, jsonrpc.CodeParseError, "parse error: the request body is not valid JSON")
		return false
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// writeJSONRPCError answers with a JSON-RPC error response whose id is null.
func writeJSONRPCError(w http.ResponseWriter, status int, code int64, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0",
		"id":      nil,
		"error":   map[string]any{"code": code, "message": msg},
	})
}

// isHealthRequest reports whether req's Accept header lists application/json
// but not text/event-stream.
func isHealthRequest(req *http.Request) bool {
	jsonOK, sse := false, false
	for _, v := range req.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			switch mt {
			case "application/json":
				jsonOK = true
			case "text/event-stream":
				sse = true
			}
		}
	}
	return jsonOK && !sse
}

// Health is the Runner's state as the health GET reports it.
type Health struct {
	// Status is "ok" when a run can start, "error" when it cannot (Error
	// says why) and "closed" after Close.
	Status string `json:"status"`
	// Stata is the Stata executable in use; "" when none was found.
	Stata string `json:"stata"`
	// Workers is how many batch Stata processes (isolated runs) may run at
	// once.
	Workers int `json:"workers"`
	// Busy is how many batch Stata processes run now.
	Busy int `json:"busy"`
	// Queued is how many calls wait for a worker.
	Queued int `json:"queued"`
	// Sessions describes the live Stata sessions.
	Sessions sessionStats `json:"sessions"`
	// Error says what is wrong, when Status is "error".
	Error string `json:"error,omitempty"`
}

// Health returns the Runner's current state. When no session has started
// lately, it checks that Stata starts (see checkStart).
func (r *Runner) Health() Health {
	busy, queued := r.pool.Stats()
	h := Health{Status: "ok", Stata: r.stataPath(), Workers: r.cfg.Workers, Busy: busy, Queued: queued,
		Sessions: r.sessions.stats()}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	switch {
	case closed:
		h.Status = "closed"
	case h.Stata == "":
		h.Status, h.Error = "error", r.notFoundMessage()
	case !isExecutable(h.Stata):
		h.Status, h.Error = "error", fmt.Sprintf("the Stata executable %s is gone or not executable", h.Stata)
	default:
		if err := r.checkStart(h.Sessions.Count > 0); err != nil {
			h.Status, h.Error = "error", err.Error()
		}
	}
	return h
}

// answerTimeout bounds how long Close waits for the calls it stopped to send
// their answers before it closes the sessions.
const answerTimeout = 5 * time.Second

// Close stops every run (SIGTERM to its process group, SIGKILL after the
// Config's KillGrace), ends every Stata session and makes later calls fail
// with a tool error. The calls
// it stopped answer with what happened and the log so far; once those answers
// are written (or after a few seconds), Close closes every MCP session, and
// their clients must start new ones. It returns when every Stata process the
// Runner started is gone and the sessions are closed, which takes about
// KillGrace at most unless a client is slow to read its answer. It may be
// called more than once, and returns the sessions' close errors.
func (r *Runner) Close() error {
	r.once.Do(func() {
		r.mu.Lock()
		r.closed = true
		close(r.closing)
		r.mu.Unlock()
		r.pool.Close()
		r.runs.Wait()
		r.sessions.close()

		// The POSTs still in flight carry the stopped calls' answers; the SDK
		// drops an answer whose session closes before it is written.
		answered := make(chan struct{})
		go func() {
			r.posts.Wait()
			close(answered)
		}()
		t := time.NewTimer(answerTimeout)
		select {
		case <-answered:
		case <-t.C:
			r.log.Warn("closing sessions before every answer was written")
		}
		t.Stop()
		var errs []error
		for ss := range r.server.Sessions() {
			errs = append(errs, ss.Close())
		}
		r.closeErr = errors.Join(errs...)
		r.sessions.waitWatchers()
	})
	return r.closeErr
}

// Config returns the Runner's configuration, with defaults filled in.
func (r *Runner) Config() Config {
	return r.cfg
}

// Stata returns the Stata executable the Runner runs, "" when none is
// known; it does not check that it starts (Health does).
func (r *Runner) Stata() string {
	return r.stataPath()
}

// WorkDir returns the directory where the Runner keeps its calls' files.
func (r *Runner) WorkDir() string {
	return r.workDir
}

// startRun registers a run, unless the Runner is closed.
func (r *Runner) startRun() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.runs.Add(1)
	return true
}

// endRun unregisters a run.
func (r *Runner) endRun() {
	r.runs.Done()
}

// ready returns the tool error of a call that cannot run: the Runner is
// closed, the work directory cannot be made, or there is no Stata.
func (r *Runner) ready() error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return errors.New("the server is shutting down; try again shortly")
	}
	// The work directory may have been cleaned away since New (tmpfiles).
	if err := os.MkdirAll(r.workDir, 0o700); err != nil {
		return fmt.Errorf("cannot use the work directory: %w", err)
	}
	if r.stataPath() == "" {
		return errors.New(r.notFoundMessage())
	}
	return nil
}

// notFoundMessage says why no Stata is known and how to configure one.
func (r *Runner) notFoundMessage() string {
	if r.cfg.Stata != "" {
		return fmt.Sprintf("the Stata executable configured for this server, %q, was not found or is not executable. "+
			"The server's administrator should fix the stata_runner `stata` option: the path of stata-mp, stata-se or stata.", r.cfg.Stata)
	}
	return notFoundHelp
}

// stataPath returns the Stata executable to run, looking for it again if none
// is known yet and none was configured.
func (r *Runner) stataPath() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stata == "" {
		r.stata = resolveStata(r.cfg.Stata)
	}
	return r.stata
}

// resolveStata returns the executable for the configured value: the value
// itself if it names an executable file, found on PATH if it is a bare name,
// or Detect's answer if it is empty. It returns "" when there is none.
func resolveStata(configured string) string {
	if configured == "" {
		p, err := Detect()
		if err != nil {
			return ""
		}
		return p
	}
	p, err := exec.LookPath(expandHome(configured))
	if err != nil {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return p
}

// prepareWorkDir returns the absolute work directory for the configured one,
// creating it if needed.
func prepareWorkDir(configured string) (string, error) {
	if configured == "" {
		return defaultWorkDir()
	}
	dir, err := filepath.Abs(expandHome(configured))
	if err != nil {
		return "", fmt.Errorf("work_dir: %w", err)
	}
	if !isSafeDir(dir) {
		return "", fmt.Errorf("work_dir %q: Stata's batch mode cannot take paths with spaces or characters other than letters, digits and /._+-@", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("work_dir: %w", err)
	}
	return dir, nil
}

// defaultWorkDir returns caddy-stata-<uid> in the temporary directory,
// creating it private to this user, and refusing one that another user made
// or that is a symbolic link.
func defaultWorkDir() (string, error) {
	tmp := os.TempDir()
	if !isSafeDir(tmp) {
		tmp = "/tmp"
	}
	dir := filepath.Join(tmp, fmt.Sprintf("caddy-stata-%d", os.Getuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("creating work_dir: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("work_dir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || (ok && int(st.Uid) != os.Getuid()) || fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("work_dir %s is not a directory private to this user; set work_dir", dir)
	}
	return dir, nil
}

// version returns the module's version, as built.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/caddy-stata/caddy-stata" && m.Version != "" {
				return m.Version
			}
		}
		if bi.Main.Path == "github.com/caddy-stata/caddy-stata" && bi.Main.Version != "" {
			return bi.Main.Version
		}
	}
	return "devel"
}
