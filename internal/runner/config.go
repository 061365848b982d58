package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"
)

// Defaults for the fields of Config left at their zero value.
const (
	// DefaultWorkers is the default of Config.Workers.
	DefaultWorkers = 1
	// DefaultQueue is the default of Config.Queue.
	DefaultQueue = 16
	// DefaultTimeout is the default of Config.Timeout.
	DefaultTimeout = time.Hour
	// DefaultMaxOutput is the default of Config.MaxOutput: 1 MiB.
	DefaultMaxOutput = 1 << 20
	// DefaultProgressInterval is the default of Config.ProgressInterval.
	DefaultProgressInterval = 2 * time.Second
	// DefaultKillGrace is the default of Config.KillGrace.
	DefaultKillGrace = 3 * time.Second
	// DefaultSessionTimeout is the default of Config.SessionTimeout.
	DefaultSessionTimeout = time.Hour
	// DefaultSessions is the default of Config.Sessions.
	DefaultSessions = 4
	// DefaultSessionIdle is the default of Config.SessionIdle.
	DefaultSessionIdle = time.Hour
	// DefaultMaxGraphs is the default of Config.MaxGraphs.
	DefaultMaxGraphs = 8
)

// Config configures a Runner. The zero value is usable: every field has a
// default, and Stata is looked for with Detect.
type Config struct {
	// Stata is the path of the Stata executable, run as `<stata> -q` (console
	// mode) for sessions and `<stata> -b do <file>` for isolated runs; a bare
	// name is looked up on PATH. When empty,
	// New uses the first of stata-mp, stata-se and stata found on PATH or
	// under /usr/local/stata* or /Applications/Stata* (see Detect), and a call
	// looks again if nothing was found then. When no Stata is found, the
	// Runner still serves MCP, and every tool call answers with a tool error
	// that says how to set this option. Default: `""`.
	Stata string

	// Workers is the number of batch Stata processes (the runs of calls
	// with `isolated: true`, and of clients without an MCP session) that
	// may run at once. Default: `1`.
	Workers int

	// Sessions is the number of Stata sessions that may run at once. A
	// session is Stata in console mode (`<stata> -q`), started by the first
	// call of an MCP session and kept for its later calls, so that data in
	// memory and other state carry over; a call that needs a new session
	// over this limit gets a tool error saying so. Default: `4`.
	Sessions int

	// SessionIdle ends a Stata session that has run no call for this long;
	// the MCP session's next call starts a new one and says so. A negative
	// value keeps idle sessions until their MCP session ends.
	// Default: `1h`.
	SessionIdle time.Duration

	// NoGraphs turns off the export of graphs: by default, after each call
	// in a session, the graphs in Stata's memory are exported as PNG and
	// returned as image contents of the result, then dropped.
	// Default: `false`.
	NoGraphs bool

	// MaxGraphs is the most graphs a call returns. Default: `8`.
	MaxGraphs int

	// Queue is the number of calls that may wait for a free worker; a call
	// over it is answered at once with a tool error. A negative value lets no
	// call wait. Default: `16`.
	Queue int

	// Timeout is the longest a run may last, counted from the start of the
	// Stata process (time spent queued is not counted). A call may ask for
	// less with its `timeout` argument, never for more. A run over its limit
	// is stopped and its result says so. Default: `1h`.
	Timeout time.Duration

	// WorkDir is the directory where the Runner keeps the files of its calls:
	// each call gets a directory of its own in it, named call-<pid>-…,
	// holding the do-file of stata_run_selection, the wrapper do-file Stata
	// is given and the call's log; and each Stata session gets one, named
	// session-<pid>-…, as its starting directory, removed when it ends. A
	// call's directory is removed once its result is ready (or KeepLogs
	// later), and a new Runner removes the call and session directories that
	// a process no longer running left behind. Its
	// path may contain only letters, digits and `/._+-@`, because Stata's
	// batch mode splits its command line at spaces. It is created if missing.
	// When empty, a directory named caddy-stata-<uid> in the system's
	// temporary directory is used, private to the user running the server.
	// Default: `""`.
	WorkDir string

	// KeepLogs is how long a call's files (its log, its wrapper and the
	// do-file of stata_run_selection) are kept after its result is ready;
	// the result says until when. `0` removes them at once. Default: `0`.
	KeepLogs time.Duration

	// AllowedDirs, when not empty, are the only directories whose do-files
	// stata_run_file may run and which a call may name as its working_dir:
	// a file_path or working_dir must resolve, symbolic links followed,
	// inside one of them, else the call gets a tool error. They must exist
	// when the Runner is made. This does not confine the Stata code itself,
	// which may read and write wherever the server's user can, and run shell
	// commands. Default: none, meaning any directory.
	AllowedDirs []string

	// MaxOutput is the most log text, in bytes, that a result carries. A
	// longer log keeps its head and its tail, with a marker between them
	// saying how much was left out and where the full log is. Default:
	// `1MiB`.
	MaxOutput int64

	// ProgressInterval is the time between two progress notifications of a
	// call whose client sent a progressToken. Default: `2s`.
	ProgressInterval time.Duration

	// KillGrace is how long a stopped run has to exit after SIGTERM before
	// its whole process group gets SIGKILL. Default: `3s`.
	KillGrace time.Duration

	// SessionTimeout closes MCP sessions that have seen no request for this
	// long; a client whose session was closed gets 404 and starts a new one.
	// A session is never closed while one of its calls runs. A negative value
	// keeps idle sessions forever. Default: `1h`.
	SessionTimeout time.Duration

	// DisableLocalhostProtection turns off the Go SDK's DNS-rebinding
	// protection, which answers 403 to a request that reached the server
	// through a loopback address but names a Host that is not localhost or a
	// loopback IP. Leave it off unless a proxy or tunnel on the same machine
	// (cloudflared, ssh -L, another reverse proxy, or a Caddy reverse_proxy
	// to a loopback site) forwards requests with their public Host; rewriting
	// Host to the loopback address in that proxy is the safer fix.
	// Default: `false`.
	DisableLocalhostProtection bool

	// Logger receives the Runner's logs; when nil, they are dropped.
	// Default: `nil`.
	Logger *zap.Logger
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	c.Queue = defaultOrOff(c.Queue, DefaultQueue)
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxOutput <= 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.KillGrace <= 0 {
		c.KillGrace = DefaultKillGrace
	}
	c.SessionTimeout = defaultOrOff(c.SessionTimeout, DefaultSessionTimeout)
	if c.Sessions <= 0 {
		c.Sessions = DefaultSessions
	}
	c.SessionIdle = defaultOrOff(c.SessionIdle, DefaultSessionIdle)
	if c.MaxGraphs <= 0 {
		c.MaxGraphs = DefaultMaxGraphs
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// defaultOrOff applies the rule of the fields where 0 means the default and a
// negative value means none: it returns def for 0, 0 for a negative v, else v.
func defaultOrOff[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// stataNames are the executables Detect looks for, in order of preference.
var stataNames = []string{"stata-mp", "stata-se", "stata"}

// installGlobs are the usual install folders of Stata, as patterns for
// filepath.Glob. Within a pattern, the edition order of stataNames comes
// first, then newer versions (folders sorting later).
var installGlobs = []string{
	"/usr/local/stata*",
	"/Applications/Stata*",
	"/Applications/Stata*/Stata*.app/Contents/MacOS",
}

// ErrStataNotFound is returned by Detect when no Stata executable was found.
var ErrStataNotFound = errors.New("no stata executable found")

// Detect returns the path of the Stata executable to use: the first of
// stata-mp, stata-se and stata found on PATH, else in the usual install
// folders (/usr/local/stata*, /Applications/Stata*, and the app bundles
// under /Applications/Stata*), preferring the better edition, then the newer
// version. It returns an error wrapping ErrStataNotFound when there is none.
func Detect() (string, error) {
	return detect(exec.LookPath, installGlobs)
}

// detect is Detect with its search made explicit, for tests.
func detect(lookPath func(string) (string, error), globs []string) (string, error) {
	for _, name := range stataNames {
		if p, err := lookPath(name); err == nil {
			return p, nil
		}
	}
	for _, pattern := range globs {
		dirs, _ := filepath.Glob(pattern)
		sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
		for _, name := range stataNames {
			for _, dir := range dirs {
				p := filepath.Join(dir, name)
				if isExecutable(p) {
					return p, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%w on PATH or under %v (looked for %v)", ErrStataNotFound, globs, stataNames)
}

// isExecutable reports whether path is a regular file that someone may execute.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// notFoundHelp is the tool error given when no Stata executable is known.
const notFoundHelp = "Stata was not found on this server: no stata-mp, stata-se or stata on PATH " +
	"or under /usr/local/stata* or /Applications/Stata*. The server's administrator " +
	"should set the path of the Stata executable with the stata_runner `stata` option " +
	"(Caddyfile: `stata /usr/local/stata18/stata-mp`; JSON: \"stata\": \"...\")."
