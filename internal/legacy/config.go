package legacy

import (
	"errors"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// Defaults of Config, documented on its fields.
const (
	DefaultInterval    = 15 * time.Second
	DefaultMaxDuration = 24 * time.Hour
	DefaultMaxBody     = 4 << 20
)

// Config says which calls of a legacy session are kept alive and how. The
// zero value is not valid; start from DefaultConfig.
type Config struct {
	// Tools are shell-style patterns (path.Match syntax) of the tool names
	// whose calls are kept alive; empty keeps every tool's calls alive.
	Tools []string
	// Interval is the time between keep-alives while calls are pending.
	Interval time.Duration
	// Progress tells whether to send notifications/progress for a pending
	// call that carries a progressToken; otherwise keep-alives are comment
	// lines.
	Progress bool
	// MaxDuration is the longest a call is kept alive. Past it the handler
	// stops sending progress for it, so that the client's own timers apply
	// again; the call itself is not touched.
	MaxDuration time.Duration
	// MaxBody is the largest POST body inspected, in bytes. A larger one
	// passes through untouched and its call is not kept alive.
	MaxBody int64
}

// DefaultConfig returns the configuration with every default.
func DefaultConfig() Config {
	return Config{
		Interval:    DefaultInterval,
		Progress:    true,
		MaxDuration: DefaultMaxDuration,
		MaxBody:     DefaultMaxBody,
	}
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	if err := mcpmsg.ToolPatterns(c.Tools).Validate(); err != nil {
		return err
	}
	switch {
	case c.Interval <= 0:
		return errors.New("interval must be positive")
	case c.MaxDuration <= 0:
		return errors.New("max_duration must be positive")
	case c.MaxBody <= 0:
		return errors.New("max_request_body must be positive")
	}
	return nil
}

// holds reports whether calls of tool are kept alive.
func (c *Config) holds(tool string) bool { return mcpmsg.ToolPatterns(c.Tools).Match(tool) }
