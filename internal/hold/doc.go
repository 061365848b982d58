// Package hold is the held-call engine of mcp_keepalive for the Streamable
// HTTP transport, in plain net/http. It passes every request to the next
// handler untouched, except a JSON-RPC tools/call whose upstream does not
// answer within a grace period. That call it answers itself with a
// Server-Sent Events stream, kept alive with comments and progress
// notifications, that ends with the upstream's response or with a JSON-RPC
// error if the upstream fails.
//
// The path of a held call:
//
//	upstream ──► call (capture) ──► streams.Stream ──► reader ──► client
//	  next()     Write on next's     events, kept in     one per       the POST, or a
//	  on the     goroutine: grace    memory, then the    connection,   GET that resumes
//	  request's  buffer, then        spill file; keep-   the only      with Last-Event-ID
//	  goroutine  events at once      alives from timers  writer to it
//
// A call answered within the grace period costs a timer and no goroutine:
// the next handler runs on the request's goroutine, writes into the call's
// own buffer, and the answer goes to the client as it came. When the grace
// timer fires first, the call is committed: its stream is created, what the
// upstream wrote so far becomes events, a keep-alive timer starts, and one
// goroutine, the reader, writes the stream to the client while the next
// handler goes on writing events on the request's goroutine. A client at
// 2025-11-25 or later whose connection is closed for polling needs its
// request's goroutine back, so for it alone the next handler runs on a
// goroutine of its own and the request's goroutine is the reader.
//
// A tools/call that asks for a task (protocol 2025-11-25, params.task) is
// held the same way, with no client attached: its client gets the task
// handle at once, the upstream an ordinary call, and the call's stream keeps
// its events and its response, mirrored to the shared store like any other.
// The task methods (tasks/get, tasks/result, tasks/list, tasks/cancel) read
// that stream, here or, through the shared store, on another instance; see
// Tasks and package tasks.
//
// The policy of keep-alives (which calls, how often, what progress to
// invent, how the upstream's own progress is merged, how a call ends) is
// package keepalive's, shared with the legacy HTTP+SSE transport.
package hold
