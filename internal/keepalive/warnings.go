package keepalive

import (
	"fmt"
	"time"
)

// Limits past which a setting is allowed but most likely a mistake; see
// Warnings.
const (
	// IdleLimit is the idle timeout that many proxies and load balancers
	// (nginx's proxy_read_timeout, cloud load balancers) and Caddy's own
	// write idle timer apply by default, and the time Claude Code waits for
	// the response headers of a POST by default.
	IdleLimit = time.Minute
	// MinInterval is the shortest interval between keep-alives that is not
	// a waste: more frequent ones cost every held call CPU and bandwidth and
	// keep nothing more alive.
	MinInterval = 100 * time.Millisecond
)

// Warnings returns what is allowed in c but most likely wrong, one sentence
// each, for the embedding server to log when it loads the configuration.
// What cannot work at all is an error of Validate instead.
func (c Config) Warnings() []string {
	var w []string
	if c.Interval >= IdleLimit {
		w = append(w, fmt.Sprintf("interval %v is a minute or more: proxies and load balancers commonly drop a connection after 60 s without a byte, and so does Caddy's own write idle timer; keep it well under a minute, such as 15s", c.Interval))
	}
	if c.Interval > 0 && c.Interval < MinInterval {
		w = append(w, fmt.Sprintf("interval %v is under 100ms: keep-alives this frequent cost every held call CPU and bandwidth and keep nothing more alive", c.Interval))
	}
	if c.Grace >= IdleLimit {
		w = append(w, fmt.Sprintf("grace %v is a minute or more: a call is held only after it, and clients give up waiting for response headers after 60 s (Claude Code by default, nginx, load balancers); keep it at a few seconds", c.Grace))
	}
	return w
}
