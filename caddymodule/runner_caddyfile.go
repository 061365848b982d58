package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("stata_runner", parseStataRunner)
	// After reverse_proxy, so that mcp_keepalive (before it) also comes
	// before stata_runner when both are in one site.
	httpcaddyfile.RegisterDirectiveOrder("stata_runner", httpcaddyfile.After, "reverse_proxy")
}

// parseStataRunner sets up the handler from Caddyfile tokens.
func parseStataRunner(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(StataRunner)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	stata_runner [<matcher>] {
//	    stata        <path>
//	    workers      <n>
//	    queue        <n>
//	    timeout      <duration>
//	    work_dir     <path>
//	    keep_logs    <duration>
//	    allowed_dirs <path...>
//	    max_output   <size>
//	    sessions     <n>
//	    session_idle <duration>
//	    graphs       on|off
//	    max_graphs   <n>
//	}
//
// Every subdirective is optional and may be given once; see the fields of
// StataRunner for defaults.
func (s *StataRunner) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		switch name {
		case "stata", "work_dir", "workers", "queue", "timeout", "max_output", "keep_logs", "allowed_dirs",
			"sessions", "session_idle", "graphs", "max_graphs":
		default:
			return d.Errf("unrecognized subdirective '%s'", name)
		}
		if err := once(d, seen); err != nil {
			return err
		}
		if name == "allowed_dirs" {
			s.AllowedDirs = d.RemainingArgs()
			if len(s.AllowedDirs) == 0 {
				return d.ArgErr()
			}
			continue
		}
		arg, err := oneArg(d)
		if err != nil {
			return err
		}
		switch name {
		case "stata":
			s.Stata = arg
		case "work_dir":
			s.WorkDir = arg
		case "workers":
			n, err := strconv.Atoi(arg)
			if err != nil || n <= 0 {
				return d.Errf("workers: need a positive whole number, not '%s'", arg)
			}
			s.Workers = n
		case "queue":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 {
				return d.Errf("queue: need a whole number, 0 or more, not '%s'", arg)
			}
			s.Queue = &n
		case "timeout":
			dur, err := parseDuration(d, name, arg, false)
			if err != nil {
				return err
			}
			s.Timeout = dur
		case "keep_logs":
			dur, err := parseDuration(d, name, arg, true)
			if err != nil {
				return err
			}
			s.KeepLogs = dur
		case "max_output":
			size, err := parseSize(d, name, arg)
			if err != nil {
				return err
			}
			s.MaxOutput = size
		case "sessions", "max_graphs":
			n, err := strconv.Atoi(arg)
			if err != nil || n <= 0 {
				return d.Errf("%s: need a positive whole number, not '%s'", name, arg)
			}
			if name == "sessions" {
				s.Sessions = n
			} else {
				s.MaxGraphs = n
			}
		case "session_idle":
			dur, err := parseDuration(d, name, arg, true)
			if err != nil {
				return err
			}
			s.SessionIdle = &dur
		case "graphs":
			var on bool
			switch arg {
			case "on":
				on = true
			case "off":
			default:
				return d.Errf("graphs must be 'on' or 'off', not '%s'", arg)
			}
			s.Graphs = &on
		}
	}
	return nil
}
