// Package runner is the engine of the stata_runner module: an MCP server,
// built on the official Go SDK and served over Streamable HTTP, whose tools
// run Stata do-files in batch mode. It knows nothing of Caddy; the module in
// package caddymodule only maps its configuration onto Config and mounts the
// Runner as a handler.
//
// The tools, stata_run_file and stata_run_selection, take the names and
// arguments of stata-mcp's. Each call gets a directory of its own in the work
// directory, where Stata runs `<stata> -b do run.do` and writes run.log: the
// wrapper run.do changes to the call's working directory (working_dir, else
// the do-file's own directory) and runs the do-file, so Stata never writes
// its log beside the user's file. The call answers with the log, the exit
// status, the duration and the log's path, and its directory is removed once
// the result is ready, or KeepLogs later; New removes the call directories
// that processes no longer running left behind. AllowedDirs, when set,
// confines the do-files and working directories a call may name, symbolic
// links resolved; the Stata code itself is not confined, and may run shell
// commands as the server's user. Because Stata's batch mode exits 0 even when a do-file fails,
// a Stata error is read from the log, which then ends with Stata's "r(<n>);"
// line; the result is then a tool error (isError) that names n. A run that
// timed out, was cancelled or could not start is a tool error too, and so are
// bad arguments, a missing do-file or a missing Stata, with a plain message:
// never a protocol error.
//
// A bounded pool of workers runs the Stata processes; calls beyond it wait in
// a bounded queue, and calls beyond that are refused. While a call waits or
// runs, and its client sent a progressToken, it sends a progress notification
// every ProgressInterval: the value is the elapsed time in seconds (strictly
// increasing) and the message is the place in the queue or the latest
// non-empty line of the Stata log, which is followed as Stata writes it.
//
// A run never outlives its call. Each Stata process runs in its own process
// group; when the run's time limit passes, the call is cancelled
// (notifications/cancelled, or its context ends) or the Runner closes, the
// group gets SIGTERM, then SIGKILL after KillGrace, and the call answers (if
// anyone still listens) with what happened and the log so far. Whatever a
// finished run left in its group is killed too.
//
// The files split the work by concern: config.go (Config, defaults, Detect),
// pool.go (workers and queue), process.go (the process group), logtail.go
// (following the log, head-and-tail truncation), statalog.go (Stata's log
// conventions), progress.go, run.go (one run from queue to result), tools.go
// (the MCP tools), calldir.go (a call's files, the sweep, allowed_dirs) and
// handler.go (the Runner: New, ServeHTTP, Close).
package runner
