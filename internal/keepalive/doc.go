// Package keepalive is the keep-alive policy that every transport of
// mcp_keepalive follows, in plain Go: which calls are kept alive and for how
// long (Config), the record of one pending call whose keep-alives invent
// progress for the client's token and merge the upstream's own (Call), how a
// call ends (the Outcome constants), the process-wide cap on calls held at
// once (Slots), and what the embedding server is told (Observer).
//
// The Streamable HTTP engine (package hold) and the legacy HTTP+SSE
// transport (package legacy) differ only in where a keep-alive is written;
// what it says, and when, is decided here.
package keepalive
