package caddymodule

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stata/caddy-stata/internal/hostcheck"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("mcp_stdio", parseStdioPool)
	// After reverse_proxy (as stata_runner), so that mcp_keepalive (before
	// it) stands in front of mcp_stdio in one site. Caddy only orders a
	// plugin's directive relative to a standard one: "after mcp_keepalive"
	// panics at start.
	httpcaddyfile.RegisterDirectiveOrder("mcp_stdio", httpcaddyfile.After, "reverse_proxy")
}

// parseStdioPool sets up the handler from Caddyfile tokens.
func parseStdioPool(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(StdioPool)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mcp_stdio [<matcher>] {
//	    command         <program> [<args...>]
//	    env             <name> <value>
//	    dir             <path>
//	    min_workers     <n>
//	    max_workers     <n>
//	    max_inflight    <n>
//	    idle_timeout    <duration>
//	    health_interval <duration>
//	    health_timeout  <duration>
//	    request_timeout <duration>
//	    max_queue       <n>
//	    allowed_hosts   <pattern...>|*
//	    allowed_origins <pattern...>
//	}
//
// command is required and its program must be found (on PATH, or as a
// path) when the Caddyfile is adapted; env may be repeated, and so may
// allowed_hosts and allowed_origins, whose patterns add up; every other
// subdirective may be given once. See the fields of StdioPool for defaults.
func (s *StdioPool) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		switch name {
		case "command":
			if err := once(d, seen); err != nil {
				return err
			}
			s.Command = d.RemainingArgs()
			if len(s.Command) == 0 {
				return d.ArgErr()
			}
			// A relative path is relative to dir, which may come later.
			if !isRelativePath(s.Command[0]) {
				if err := findProgram(s.Command[0], ""); err != nil {
					return d.Errf("command: %v", err)
				}
			}
		case "env":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			if s.Env == nil {
				s.Env = map[string]string{}
			}
			if _, ok := s.Env[args[0]]; ok {
				return d.Errf("env: '%s' given twice", args[0])
			}
			s.Env[args[0]] = args[1]
		case "dir":
			if err := once(d, seen); err != nil {
				return err
			}
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			s.Dir = arg
		case "min_workers", "max_workers", "max_inflight", "max_queue":
			if err := once(d, seen); err != nil {
				return err
			}
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(arg)
			if err != nil || n <= 0 {
				return d.Errf("%s: need a positive whole number, not '%s'", name, arg)
			}
			switch name {
			case "min_workers":
				s.MinWorkers = n
			case "max_workers":
				s.MaxWorkers = n
			case "max_inflight":
				s.MaxInflight = n
			case "max_queue":
				s.MaxQueue = n
			}
		case "idle_timeout", "health_interval", "health_timeout", "request_timeout":
			if err := once(d, seen); err != nil {
				return err
			}
			dur, err := durationArg(d, false)
			if err != nil {
				return err
			}
			switch name {
			case "idle_timeout":
				s.IdleTimeout = dur
			case "health_interval":
				s.HealthInterval = dur
			case "health_timeout":
				s.HealthTimeout = dur
			case "request_timeout":
				s.RequestTimeout = dur
			}
		case "allowed_hosts", "allowed_origins":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			validate, list := hostcheck.ValidateHost, &s.AllowedHosts
			if name == "allowed_origins" {
				validate, list = hostcheck.ValidateOrigin, &s.AllowedOrigins
			}
			for _, p := range args {
				if err := validate(p); err != nil {
					return d.Errf("%s: %v", name, err)
				}
			}
			*list = append(*list, args...)
			if _, err := hostcheck.New(s.AllowedHosts, s.AllowedOrigins); err != nil {
				return d.Err(err.Error())
			}
		default:
			return d.Errf("unrecognized subdirective '%s'", name)
		}
	}
	if len(s.Command) == 0 {
		return d.Err("mcp_stdio: command is required")
	}
	if isRelativePath(s.Command[0]) {
		if err := findProgram(s.Command[0], s.Dir); err != nil {
			return d.Errf("command: %v", err)
		}
	}
	if minW, maxW := s.MinWorkers, s.MaxWorkers; minW > 0 && maxW > 0 && minW > maxW {
		return d.Errf("mcp_stdio: min_workers (%d) is more than max_workers (%d)", minW, maxW)
	}
	return nil
}

// isRelativePath reports whether program is a relative path (such as
// ./server), which is found relative to the worker's directory, rather than
// an absolute path or a name to look up on PATH.
func isRelativePath(program string) bool {
	return strings.ContainsRune(program, filepath.Separator) && !filepath.IsAbs(program)
}

// findProgram checks that program can be run: an absolute path, a name on
// PATH, or a path relative to dir (Caddy's own directory when empty).
func findProgram(program, dir string) error {
	path := program
	if isRelativePath(program) && dir != "" {
		path = filepath.Join(dir, program)
	}
	if _, err := exec.LookPath(path); err != nil {
		return fmt.Errorf("program '%s' not found: %w", program, err)
	}
	return nil
}
