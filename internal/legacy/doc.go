// Package legacy keeps tool calls alive on the legacy HTTP+SSE transport of
// MCP (2024-11-05), in plain net/http. There the client opens a long-lived
// GET stream whose first event, endpoint, names the URL to POST messages to;
// each POST is answered 202 and every response arrives on the GET stream.
// The Tracker relays that stream event by event, unchanged, remembers the
// tools/call requests POSTed to the session, and while any is pending
// injects, between the upstream's events, notifications/progress for the
// client's progress tokens or comment lines, until the response passes.
//
// What is kept alive, and how, is package keepalive's policy, shared with
// the Streamable HTTP engine: its Config, its record of a pending call, its
// outcomes, its cap on calls held at once and its Observer.
package legacy
