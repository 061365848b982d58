package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("mcp_rest", parseMCPRest)
	// A terminal handler, like reverse_proxy and stata_runner: after
	// reverse_proxy, so that mcp_keepalive (before it) comes first too.
	httpcaddyfile.RegisterDirectiveOrder("mcp_rest", httpcaddyfile.After, "reverse_proxy")
}

// parseMCPRest sets up the handler from Caddyfile tokens.
func parseMCPRest(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(MCPRest)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mcp_rest [<matcher>] {
//	    upstream         <url>
//	    header_up        <name> <value>
//	    strip_prefix     <path>
//	    timeout          <duration>
//	    interval         <duration>
//	    max_request_body <size>
//	}
//
// upstream is required; header_up may be given many times, every other
// subdirective once. See the fields of MCPRest for defaults.
func (m *MCPRest) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		switch name {
		case "upstream", "strip_prefix", "timeout", "interval", "max_request_body":
			if err := once(d, seen); err != nil {
				return err
			}
		case "header_up":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			if m.HeaderUp == nil {
				m.HeaderUp = http.Header{}
			}
			m.HeaderUp.Add(args[0], args[1])
			continue
		default:
			return d.Errf("unrecognized subdirective '%s'", name)
		}
		arg, err := oneArg(d)
		if err != nil {
			return err
		}
		switch name {
		case "upstream":
			if !strings.HasPrefix(arg, "http://") && !strings.HasPrefix(arg, "https://") && !strings.HasPrefix(arg, "{") {
				return d.Errf("upstream: need an http:// or https:// URL, not '%s'", arg)
			}
			m.Upstream = arg
		case "strip_prefix":
			if !strings.HasPrefix(arg, "/") {
				return d.Errf("strip_prefix: need a path that begins with '/', not '%s'", arg)
			}
			m.StripPrefix = arg
		case "timeout", "interval":
			dur, err := parseDuration(d, name, arg, false)
			if err != nil {
				return err
			}
			if name == "timeout" {
				m.Timeout = dur
			} else {
				m.Interval = dur
			}
		case "max_request_body":
			size, err := parseSize(d, name, arg)
			if err != nil {
				return err
			}
			m.MaxRequestBody = size
		}
	}
	if m.Upstream == "" {
		return d.Err("mcp_rest: the upstream subdirective is required")
	}
	return nil
}
