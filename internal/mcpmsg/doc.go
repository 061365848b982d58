// Package mcpmsg classifies JSON-RPC messages as MCP uses them, keeping ids and
// progress tokens as the raw bytes the peer sent, so that they can be echoed back
// unchanged.
package mcpmsg
