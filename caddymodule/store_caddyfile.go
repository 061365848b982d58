package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the memory store from Caddyfile tokens, which
// are its name and nothing else: `store memory`.
func (*MemoryStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the store's name
	if d.NextArg() || d.NextBlock(0) {
		return d.Errf("store memory takes no options")
	}
	return nil
}

// UnmarshalCaddyfile sets up the Redis store from Caddyfile tokens. Syntax:
//
//	store redis [<address>] {
//	    address  <host:port>|<redis://...>|<rediss://...>
//	    username <name>
//	    password <secret>
//	    db       <n>
//	    prefix   <string>
//	    timeout  <duration>
//	}
//
// The address is required, on the first line or in the block; every other
// subdirective is optional and may be given once.
func (rs *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the store's name
	if d.NextArg() {
		rs.Address = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		if err := once(d, seen); err != nil {
			return err
		}
		name := d.Val()
		arg, err := oneArg(d)
		if err != nil {
			return err
		}
		switch name {
		case "address":
			if rs.Address != "" {
				return d.Errf("store redis: address given twice")
			}
			rs.Address = arg
		case "username":
			rs.Username = arg
		case "password":
			rs.Password = arg
		case "db":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 {
				return d.Errf("db: need a whole number of at least 0, not '%s'", arg)
			}
			rs.DB = n
		case "prefix":
			rs.Prefix = arg
		case "timeout":
			if rs.Timeout, err = parseDuration(d, "timeout", arg, false); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized subdirective '%s' of store redis", name)
		}
	}
	if rs.Address == "" {
		return d.Errf("store redis: address is required")
	}
	return nil
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*MemoryStore)(nil)
	_ caddyfile.Unmarshaler = (*RedisStore)(nil)
)
