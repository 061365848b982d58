// Package integration holds the end-to-end tests of caddy-stata: the built
// caddy-stata binary between real MCP clients (the official Go and TypeScript
// SDKs) and real MCP servers (the Go SDK's Streamable HTTP handler, in JSON
// and in SSE mode). The binary is built once per test run, and the
// TypeScript SDK is installed from integration/ts/package-lock.json when
// missing.
package integration
