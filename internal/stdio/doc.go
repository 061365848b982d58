// Package stdio serves stdio MCP servers over Streamable HTTP through a pool
// of worker processes. It knows nothing of Caddy: the mcp_stdio module in
// package caddymodule maps its configuration onto Config and mounts the Pool
// as a handler.
//
// Each worker is one process of the configured command, in its own process
// group, speaking newline-delimited JSON-RPC on its stdin and stdout; each
// line of its stderr is logged with its pid. The pool initializes every
// worker once, and answers each client's initialize itself with the first
// worker's result and the protocol revision negotiated for that client.
// Client sessions are the pool's own (Mcp-Session-Id). A client request goes
// to the least-loaded ready worker under a worker-side id of the pool's (and
// a progress token of the pool's), so that two clients' ids never collide on
// one worker; every response and progress notification is mapped back to the
// caller and request it belongs to.
//
// The pool keeps between MinWorkers and MaxWorkers workers: it adds one when
// a call finds every worker at MaxInflight, stops a worker idle for
// IdleTimeout above MinWorkers, and queues up to MaxQueue calls when all
// workers are full (over that, HTTP 503 with a JSON-RPC error). Every
// HealthInterval each worker gets a JSON-RPC ping; a worker that does not
// answer within HealthTimeout, or whose process exits, is replaced, and each
// of its calls in flight is answered with a JSON-RPC error that names the
// cause.
//
// Requests from a worker to its client (sampling, elicitation, roots) go to
// the session whose call is running on that worker, under an id of the
// pool's, and the client's answer goes back to the worker. Stdio carries no
// link from such a request to the call that caused it, so the pool keeps
// it unambiguous where it can: a call of a session that declared sampling
// or elicitation goes to a worker running calls of another session that
// declared the same only when no other worker has room. When calls of
// several such sessions do share a worker, its request goes to the oldest
// call there whose client declared the capability the method needs and
// that has no request of the worker pending. Notifications of a worker
// that belong to no call (list changes, log messages) go to every session
// with a GET stream open.
//
// The files split the work by concern: config.go (Config and defaults),
// process.go (the process group, stderr lines), jsonrpc.go (rewriting ids
// and tokens), outbox.go (messages waiting for a client stream), worker.go
// (one worker: start, initialize, read, ping), pool.go (placement, scaling,
// queue, replacement), call.go (one client request in flight), session.go
// (client sessions and server-to-client requests), handler.go (Streamable
// HTTP) and report.go (the health report).
package stdio
