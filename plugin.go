// Package caddystata registers the caddy-stata modules with Caddy. Importing it
// (for example with xcaddy --with github.com/caddy-stata/caddy-stata=.) adds the
// mcp_keepalive, stata_runner, mcp_stdio and mcp_rest HTTP handlers to a Caddy
// build.
package caddystata

import (
	// The Caddy modules live in caddymodule; this import registers them.
	_ "github.com/caddy-stata/caddy-stata/caddymodule"
)
