package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stata/caddy-stata/internal/streams"
)

func init() {
	caddy.RegisterModule(MemoryStore{})
}

// StreamStore is a module of the namespace mcp_keepalive.stores: where the
// streams of held calls are kept for resumption. Every store keeps a
// process's streams in memory, to serve its own clients; a shared store
// also copies them where other instances find them.
type StreamStore interface {
	// Backend returns what a handler whose calls run for at most
	// maxRunning uses to share its streams: the Mirror that copies them and
	// the Remote that reads other instances' copies and passes cancels on.
	// Both nil keep every stream in this process.
	Backend(maxRunning time.Duration) (streams.Mirror, streams.Remote)
}

// MemoryStore keeps held calls' streams in this process's memory (and its
// spill files) alone: a client whose connection drops must resume on the
// same instance. It is the default.
type MemoryStore struct{}

// CaddyModule returns the Caddy module information.
func (MemoryStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "mcp_keepalive.stores.memory",
		New: func() caddy.Module { return new(MemoryStore) },
	}
}

// Backend shares nothing.
func (MemoryStore) Backend(time.Duration) (streams.Mirror, streams.Remote) { return nil, nil }

// Interface guards.
var _ StreamStore = MemoryStore{}
