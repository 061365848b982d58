// Package caddystata registers the caddy-stata modules with Caddy. Importing it
// (for example with xcaddy --with github.com/caddy-stata/caddy-stata=.) adds the
// mcp_keepalive and stata_runner HTTP handlers to a Caddy build.
package caddystata

import (
	// The Caddy modules live in caddymodule; this import registers them.
	_ "github.com/caddy-stata/caddy-stata/caddymodule"
)
