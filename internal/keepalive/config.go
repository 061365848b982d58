package keepalive

import (
	"errors"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// Defaults of Config, documented on its fields.
const (
	DefaultGrace          = time.Second
	DefaultInterval       = 15 * time.Second
	DefaultMaxDuration    = 24 * time.Hour
	DefaultMaxRequestBody = 4 << 20
	DefaultMaxHeld        = 10000
	DefaultResume         = 30 * time.Minute
	DefaultRetry          = time.Second
	DefaultStoreLimit     = 256 << 20
	DefaultSpillAfter     = 1 << 20
	DefaultSpillLimit     = 4 << 30
)

// Config says which calls are held and how. The zero value is not valid; start
// from DefaultConfig.
type Config struct {
	// Tools are shell-style patterns (path.Match syntax) of the tool names to
	// hold; empty holds every tool.
	Tools []string
	// Grace is how long to wait for the upstream's complete answer before
	// switching to a stream; 0 switches at once.
	Grace time.Duration
	// Interval is the time between keep-alive events.
	Interval time.Duration
	// Progress tells whether to send notifications/progress when the client
	// gave a progressToken; otherwise keep-alives are comment lines.
	Progress bool
	// MaxDuration is the longest a call is held; then the upstream call is
	// cancelled and the client gets a JSON-RPC error.
	MaxDuration time.Duration
	// MaxRequestBody is the largest JSON request body read, in bytes; a larger
	// one gets 413 and a JSON-RPC error.
	MaxRequestBody int64
	// MaxHeld is the most calls held at once; over it a call gets 503 and a
	// JSON-RPC error.
	MaxHeld int
	// Resume is how long a held call's events are kept for a client that
	// reconnects, counted from the end of the call; 0 turns resumption off,
	// and then no event carries an id.
	Resume time.Duration
	// PollAfter, when positive, closes the connection of a held call after
	// this long for clients at protocol 2025-11-25 or later, which then
	// resume by GET; it needs Resume.
	PollAfter time.Duration
	// Retry is the reconnection delay sent before such a close.
	Retry time.Duration
	// StoreLimit is the most bytes of events the stream store keeps in
	// memory.
	StoreLimit int64
	// SpillDir is the folder of the files that a stream's events go to once
	// it holds more than SpillAfter bytes in memory; empty means the OS's
	// temporary folder.
	SpillDir string
	// SpillAfter is how many bytes of events a stream keeps in memory before
	// the rest go to its spill file.
	SpillAfter int64
	// SpillLimit is the most bytes that every spill file together may hold.
	SpillLimit int64
}

// DefaultConfig returns the configuration with every default.
func DefaultConfig() Config {
	return Config{
		Grace:          DefaultGrace,
		Interval:       DefaultInterval,
		Progress:       true,
		MaxDuration:    DefaultMaxDuration,
		MaxRequestBody: DefaultMaxRequestBody,
		MaxHeld:        DefaultMaxHeld,
		Resume:         DefaultResume,
		Retry:          DefaultRetry,
		StoreLimit:     DefaultStoreLimit,
		SpillAfter:     DefaultSpillAfter,
		SpillLimit:     DefaultSpillLimit,
	}
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	if err := mcpmsg.ToolPatterns(c.Tools).Validate(); err != nil {
		return err
	}
	switch {
	case c.Grace < 0:
		return errors.New("grace must not be negative")
	case c.Interval <= 0:
		return errors.New("interval must be positive")
	case c.MaxDuration <= 0:
		return errors.New("max_duration must be positive")
	case c.MaxRequestBody <= 0:
		return errors.New("max_request_body must be positive")
	case c.MaxHeld <= 0:
		return errors.New("max_held must be positive")
	case c.Resume < 0:
		return errors.New("resume must not be negative")
	case c.PollAfter < 0:
		return errors.New("poll_after must not be negative")
	case c.PollAfter > 0 && c.Resume == 0:
		return errors.New("poll_after needs resume: clients can only come back to a stream that is kept")
	case c.Retry <= 0:
		return errors.New("retry must be positive")
	case c.StoreLimit <= 0:
		return errors.New("store_limit must be positive")
	case c.SpillAfter <= 0:
		return errors.New("spill_after must be positive")
	case c.SpillLimit <= 0:
		return errors.New("spill_limit must be positive")
	}
	return nil
}

// Holds reports whether calls of tool are held.
func (c *Config) Holds(tool string) bool { return mcpmsg.ToolPatterns(c.Tools).Match(tool) }
