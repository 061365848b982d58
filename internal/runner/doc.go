// Package runner is the engine of the stata_runner module: an MCP server,
// built on the official Go SDK and served over Streamable HTTP, whose tools
// run Stata code and do-files. It knows nothing of Caddy; the module in
// package caddymodule only maps its configuration onto Config and mounts the
// Runner as a handler.
//
// The tools, stata_run_selection, stata_run_file and stata_session, take the
// names and arguments of stata-mcp's. Each call gets a directory of its own
// in the work directory, holding the code of stata_run_selection, a wrapper
// run.do (which changes to the call's working directory, if any, and does
// the do-file) and the call's log, run.log. The directory is removed once the
// result is ready, or KeepLogs later; New removes the call and session
// directories that processes no longer running left behind. AllowedDirs,
// when set, confines the do-files and working directories a call may name,
// symbolic links resolved; the Stata code itself is not confined, and may
// run shell commands as the server's user.
//
// Sessions. A call runs by default in the Stata session of its MCP session:
// Stata in console mode (`<stata> -q`), started by the session's first call
// in a directory of its own and kept for its later calls, so that data in
// memory and other state carry over (sessions.go keeps them: the Sessions
// limit, SessionIdle, and the end of an MCP session, learnt from
// ServerSession.Wait). The runner drives Stata through its standard input
// and output (console.go): it sends `capture noisily include "<run.do>"` between
// two display commands of a fresh random marker and reads up to the closing
// one, whose line also carries _rc (session.go). Stata echoes each command it
// runs, which gives progress its step; count.go counts the commands of the
// do-file for its total. A timeout or a cancellation sends SIGINT, Stata's
// Break, and keeps the session; a Stata that is not back at its prompt soon
// after is killed with its process group, and the MCP session's next call
// starts a new one and says so. After each call the graphs in memory are
// exported as PNG and returned as image contents (graphs.go). stata_session (sessiontool.go) lists, restarts or ends the
// caller's session.
//
// Isolated runs. With `isolated: true`, or for a client without an MCP
// session, a call runs `<stata> -b do run.do` in its directory instead, and
// Stata writes run.log there. Because Stata's batch mode exits 0 even when a
// do-file fails, a Stata error is read from the log, which then ends with
// Stata's "r(<n>);" line. A bounded pool of workers runs the batch
// processes; calls beyond it wait in a bounded queue, told their place, and
// calls beyond that are refused. Each batch process runs in its own process
// group; when the run's time limit passes, the call is cancelled or the
// Runner closes, the group gets SIGTERM, then SIGKILL after KillGrace.
//
// Either way a Stata error, a timeout, a cancellation, a run that could not
// start, bad arguments, a missing do-file or a missing Stata is a tool error
// (isError) with a plain message, never a protocol error.
//
// The health report (a GET asking for JSON) answers 503 with status "error"
// when Stata is missing or fails to start (startcheck.go), and lists the
// live sessions. A POST of JSON that does not parse gets a JSON-RPC parse
// error.
//
// The files split the work by concern: config.go (Config, defaults, Detect),
// handler.go (the Runner: New, ServeHTTP, Health, Close), tools.go (the run
// tools and results), sessiontool.go, sessions.go, sessionrun.go (one call in
// a session), session.go (a session: a block and its progress), console.go
// (the process and its marker protocol), graphs.go, count.go, startcheck.go,
// pool.go (workers and queue), process.go (the process group), run.go (one
// batch run), logtail.go, statalog.go (Stata's log conventions), progress.go
// and calldir.go (a call's files, the sweep, allowed_dirs).
package runner
