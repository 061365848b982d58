// Command caddy-stata is Caddy with its standard modules plus mcp_keepalive,
// stata_runner, mcp_stdio and mcp_rest, so one binary can hold long MCP tool
// calls open, run Stata, serve stdio MCP servers over HTTP and offer any MCP
// server's tools as a REST API. It adds one command to Caddy's, health, which
// the container image uses as its health check.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-stata/caddy-stata/caddymodule"
)

func main() {
	caddycmd.Main()
}
