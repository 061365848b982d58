package caddymodule

import (
	"errors"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/caddy-stata/caddy-stata/internal/hostcheck"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("mcp_keepalive", parseKeepAlive)
	httpcaddyfile.RegisterDirectiveOrder("mcp_keepalive", httpcaddyfile.Before, "reverse_proxy")
}

// parseKeepAlive sets up the handler from Caddyfile tokens.
func parseKeepAlive(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	k := new(KeepAlive)
	err := k.UnmarshalCaddyfile(h.Dispenser)
	return k, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mcp_keepalive [<matcher>] {
//	    allowed_hosts    <pattern...>|*
//	    allowed_origins  <pattern...>
//	    tools            <pattern...>
//	    grace            <duration>
//	    interval         <duration>
//	    progress         on|off
//	    max_duration     <duration>
//	    max_request_body <size>
//	    max_held         <n>
//	    resume           <ttl>|off
//	    poll_after       <duration>
//	    retry            <duration>
//	    store_limit      <size>
//	    spill_dir        <path>
//	    spill_after      <size>
//	    spill_limit      <size>
//	    store            memory|redis [<address>] [{ ... }]
//	    tasks            on|off
//	    task_ttl         <duration>
//	    task_poll        <duration>
//	    max_tasks        <n>
//	}
//
// Every subdirective is optional and may be given once, except tools,
// allowed_hosts and allowed_origins, whose patterns add up over their lines;
// see the fields of KeepAlive for defaults. store names a module of the
// namespace mcp_keepalive.stores, whose own block follows (see
// RedisStore.UnmarshalCaddyfile).
func (k *KeepAlive) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if !patternLists[name] {
			if err := once(d, seen); err != nil {
				return err
			}
		}
		switch name {
		case "tools":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, p := range args {
				if _, err := path.Match(p, ""); err != nil {
					return d.Errf("tools: bad pattern '%s': %v", p, err)
				}
			}
			k.Tools = append(k.Tools, args...)
		case "allowed_hosts":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, p := range args {
				if err := hostcheck.ValidateHost(p); err != nil {
					return d.Errf("allowed_hosts: %v", err)
				}
			}
			k.AllowedHosts = append(k.AllowedHosts, args...)
			if err := checkHostPolicy(k); err != nil {
				return d.Err(err.Error())
			}
		case "allowed_origins":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, p := range args {
				if err := hostcheck.ValidateOrigin(p); err != nil {
					return d.Errf("allowed_origins: %v", err)
				}
			}
			k.AllowedOrigins = append(k.AllowedOrigins, args...)
			if err := checkHostPolicy(k); err != nil {
				return d.Err(err.Error())
			}
		case "grace":
			dur, err := durationArg(d, true)
			if err != nil {
				return err
			}
			k.Grace = &dur
		case "interval":
			dur, err := durationArg(d, false)
			if err != nil {
				return err
			}
			k.Interval = dur
		case "progress":
			if !d.NextArg() {
				return d.ArgErr()
			}
			var on bool
			switch d.Val() {
			case "on":
				on = true
			case "off":
			default:
				return d.Errf("progress must be 'on' or 'off', not '%s'", d.Val())
			}
			k.Progress = &on
			if d.NextArg() {
				return d.ArgErr()
			}
		case "max_duration":
			dur, err := durationArg(d, false)
			if err != nil {
				return err
			}
			k.MaxDuration = dur
		case "max_request_body":
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			size, err := parseSize(d, "max_request_body", arg)
			if err != nil {
				return err
			}
			k.MaxRequestBody = size
		case "tasks":
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			on := arg == "on"
			if !on && arg != "off" {
				return d.Errf("tasks must be 'on' or 'off', not '%s'", arg)
			}
			k.Tasks = &on
		case "task_ttl":
			dur, err := durationArg(d, false)
			if err != nil {
				return err
			}
			k.TaskTTL = dur
		case "task_poll":
			dur, err := durationArg(d, false)
			if err != nil {
				return err
			}
			k.TaskPoll = dur
		case "max_tasks":
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(arg)
			if err != nil || n <= 0 {
				return d.Errf("max_tasks: need a positive whole number, not '%s'", arg)
			}
			k.MaxTasks = n
		case "max_held":
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(arg)
			if err != nil || n <= 0 {
				return d.Errf("max_held: need a positive whole number, not '%s'", arg)
			}
			k.MaxHeld = n
		case "resume":
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			var ttl caddy.Duration
			if arg != "off" {
				if ttl, err = parseDuration(d, "resume", arg, false); err != nil {
					return err
				}
			}
			k.Resume = &ttl
			if ttl == 0 && k.PollAfter > 0 {
				return d.Errf("resume off: poll_after needs resume, since clients can only come back to a stream that is kept")
			}
		case "poll_after":
			dur, err := durationArg(d, true)
			if err != nil {
				return err
			}
			k.PollAfter = dur
			if dur > 0 && k.Resume != nil && *k.Resume == 0 {
				return d.Errf("poll_after: needs resume, which is off, since clients can only come back to a stream that is kept")
			}
		case "retry":
			dur, err := durationArg(d, false)
			if err != nil {
				return err
			}
			k.Retry = dur
		case "store_limit":
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			if k.StoreLimit, err = parseSize(d, "store_limit", arg); err != nil {
				return err
			}
		case "spill_dir":
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			if arg == "" {
				return d.Errf("spill_dir: need a folder, not an empty path")
			}
			k.SpillDir = arg
		case "spill_after":
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			if k.SpillAfter, err = parseSize(d, "spill_after", arg); err != nil {
				return err
			}
		case "spill_limit":
			arg, err := oneArg(d)
			if err != nil {
				return err
			}
			if k.SpillLimit, err = parseSize(d, "spill_limit", arg); err != nil {
				return err
			}
		case "store":
			if !d.NextArg() {
				return d.ArgErr()
			}
			backend := d.Val()
			unm, err := caddyfile.UnmarshalModule(d, "mcp_keepalive.stores."+backend)
			if err != nil {
				return err
			}
			k.StoreRaw = caddyconfig.JSONModuleObject(unm, "backend", backend, nil)
		default:
			return d.Errf("unrecognized subdirective '%s'", d.Val())
		}
	}
	return nil
}

// patternLists are the subdirectives whose patterns add up over their lines
// instead of being refused when repeated: a long list reads better split.
var patternLists = map[string]bool{"tools": true, "allowed_hosts": true, "allowed_origins": true}

// checkHostPolicy reports an error if the allowed hosts and origins so far do
// not make a policy together, as when `*` comes with other patterns.
func checkHostPolicy(k *KeepAlive) error {
	_, err := hostcheck.New(k.AllowedHosts, k.AllowedOrigins)
	return err
}

// once reports an error if the current subdirective was already seen in this
// block, and otherwise marks it seen: a second line for the same setting is
// most likely a mistake, and letting the last one win silently hides it.
func once(d *caddyfile.Dispenser, seen map[string]bool) error {
	name := d.Val()
	if seen[name] {
		return d.Errf("subdirective '%s' given twice", name)
	}
	seen[name] = true
	return nil
}

// oneArg returns the single argument of the current subdirective.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	arg := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return arg, nil
}

// durationArg returns the single duration argument of the current
// subdirective, which must be positive, or zero when zeroOK.
func durationArg(d *caddyfile.Dispenser, zeroOK bool) (caddy.Duration, error) {
	name := d.Val()
	arg, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	return parseDuration(d, name, arg, zeroOK)
}

// parseDuration parses the duration arg of subdirective name, which must be
// positive, or zero when zeroOK.
func parseDuration(d *caddyfile.Dispenser, name, arg string, zeroOK bool) (caddy.Duration, error) {
	dur, err := caddy.ParseDuration(arg)
	if err != nil {
		return 0, d.Errf("%s: invalid duration '%s': %v", name, arg, err)
	}
	if dur < 0 && zeroOK {
		return 0, d.Errf("%s: duration must not be negative, not '%s'", name, arg)
	}
	if dur <= 0 && !zeroOK {
		return 0, d.Errf("%s: duration must be positive, not '%s'", name, arg)
	}
	return caddy.Duration(dur), nil
}

// maxSize is the largest size a subdirective accepts: 1 TiB.
const maxSize = 1 << 40

// parseSize parses the size arg of subdirective name ("4MiB", "512KB",
// "1048576"): a whole, positive number of bytes of at most 1 TiB.
func parseSize(d *caddyfile.Dispenser, name, arg string) (int64, error) {
	size, err := humanize.ParseBytes(arg)
	if err == nil && strings.IndexFunc(arg, unicode.IsLetter) < 0 && strings.Contains(arg, ".") {
		err = errors.New("a number of bytes must be whole")
	}
	if err != nil || size == 0 || size > maxSize {
		return 0, d.Errf("%s: invalid size '%s': need a whole, positive number of bytes up to 1TiB, such as 4MiB", name, arg)
	}
	return int64(size), nil
}
