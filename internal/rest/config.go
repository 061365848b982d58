package rest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Defaults of Config, documented on its fields.
const (
	DefaultTimeout        = time.Hour
	DefaultInterval       = 15 * time.Second
	DefaultMaxRequestBody = 4 << 20
	// DefaultSessions is how many upstream sessions the pool opens at most.
	DefaultSessions = 4
)

// Config is the configuration of a Gateway.
type Config struct {
	// Upstream is the URL of the MCP server: its Streamable HTTP endpoint,
	// or a legacy HTTP+SSE endpoint, used when the upstream refuses
	// Streamable HTTP but answers a GET with its event stream. Required.
	Upstream string
	// Header holds the headers sent with every upstream request, such as a
	// bearer token.
	Header http.Header
	// StripPrefix is the path prefix the endpoints live under. Default: none.
	StripPrefix string
	// Timeout is the longest a call may run. Default: 1h.
	Timeout time.Duration
	// Interval is how often a stream gets a keep-alive. Default: 15s.
	Interval time.Duration
	// MaxRequestBody is the largest request body read, in bytes. Default: 4MiB.
	MaxRequestBody int64
	// Sessions is how many upstream sessions the pool opens at most.
	// Default: 4.
	Sessions int
	// HTTPClient is the client of upstream requests. Default: one of its own.
	HTTPClient *http.Client
	// Logger receives the gateway's logs. Default: none.
	Logger *zap.Logger
}

// withDefaults returns c with every unset field at its default.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxRequestBody == 0 {
		c.MaxRequestBody = DefaultMaxRequestBody
	}
	if c.Sessions == 0 {
		c.Sessions = DefaultSessions
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	c.StripPrefix = strings.TrimSuffix(c.StripPrefix, "/")
	return c
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	if c.Upstream == "" {
		return errors.New("upstream is required")
	}
	u, err := url.Parse(c.Upstream)
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("upstream: need an http or https URL, not %q", c.Upstream)
	}
	switch {
	case c.Timeout < 0:
		return errors.New("timeout must be positive")
	case c.Interval < 0:
		return errors.New("interval must be positive")
	case c.MaxRequestBody < 0:
		return errors.New("max_request_body must be positive")
	case c.Sessions < 0:
		return errors.New("sessions must be positive")
	case c.StripPrefix != "" && !strings.HasPrefix(c.StripPrefix, "/"):
		return fmt.Errorf("strip_prefix must begin with '/', not %q", c.StripPrefix)
	}
	return nil
}
