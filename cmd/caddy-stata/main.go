// Command caddy-stata is Caddy with its standard modules plus mcp_keepalive and
// stata_runner, so one binary can hold long MCP tool calls open and run Stata.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-stata/caddy-stata/caddymodule"
)

func main() {
	caddycmd.Main()
}
