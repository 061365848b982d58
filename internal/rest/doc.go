// Package rest is the REST, SSE and WebSocket facade of mcp_rest: an HTTP
// handler that is itself an MCP client of one upstream MCP server and offers
// that server's tools to programs that do not speak MCP (curl, a notebook, a
// web page, a job scheduler).
//
// Endpoints, below an optional path prefix:
//
//	GET  /tools               the upstream's tools, every page
//	GET  /openapi.json        an OpenAPI 3.1 document, one operation per tool
//	POST /tools/{name}        a call that answers when it ends
//	POST /tools/{name}/stream the same call as server-sent events
//	GET  /ws/tools/{name}     many calls over one WebSocket
//	GET  /health              whether the upstream answers ping
//	GET  /stats               calls by tool and outcome, durations, sessions
//
// The upstream is reached with the official Go SDK's client
// (github.com/modelcontextprotocol/go-sdk): Streamable HTTP, or the legacy
// HTTP+SSE transport, found on its own when the upstream refuses Streamable
// HTTP but answers a GET with its event stream (pool.go's dial). A small pool
// of upstream sessions (pool.go) is initialized once and reused, so a REST
// call costs one upstream request; a session the upstream no longer knows (404, after a restart) is
// dropped and the call is retried once on a new one. Progress comes back by
// the progress token each call sends; log messages, which MCP does not tie to
// a request, go to the streaming calls in flight on the session that got them.
// A REST or WebSocket client that goes away cancels its call: the SDK sends
// notifications/cancelled upstream when the call's context ends.
//
// Streams follow the project's keep-alive rule (see package keepalive): at
// every interval a comment, and an invented progress event when the upstream
// sent no progress of its own since the last one, its values kept strictly
// increasing with the upstream's by mcpmsg.ProgressSeq.
//
// The WebSocket side uses github.com/coder/websocket: small, no dependencies
// of its own, maintained, with context-aware reads and writes and safe
// concurrent writers, which the many calls of one socket need. The standard
// library has no WebSocket server, and golang.org/x/net/websocket lacks
// close handshakes and read limits.
//
// The package has no Caddy import; caddymodule/rest.go is its Caddy glue.
package rest
