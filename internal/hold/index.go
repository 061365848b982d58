package hold

import (
	"net/http"
	"sync"
)

// Index finds the held calls still in their grace period by their owner's
// key of the request id, so that a notifications/cancelled that arrives then
// reaches them. A committed call is found through its stream instead. It is
// safe for concurrent use; a process keeps one, like its stream store.
type Index struct {
	mu    sync.Mutex
	calls map[string]*call
}

// indexKey returns the Index's key of the request whose id key is request,
// from a client with the headers h: the same session and credentials as a
// stream's owner, kept as they came rather than hashed, since a key lives
// only as long as its request.
func indexKey(h http.Header, request string) string {
	return h.Get("Mcp-Session-Id") + "\x00" + h.Get("Authorization") + "\x00" + request
}

// NewIndex returns an empty Index.
func NewIndex() *Index { return &Index{calls: make(map[string]*call)} }

// add indexes c under key, unless a call is there already (the same client
// reused an id for two calls at once): then c is simply not found by a
// cancellation during its grace period.
func (x *Index) add(key string, c *call) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.calls[key]; ok {
		return false
	}
	x.calls[key] = c
	return true
}

// remove takes c, indexed under key, out.
func (x *Index) remove(key string, c *call) {
	x.mu.Lock()
	if x.calls[key] == c {
		delete(x.calls, key)
	}
	x.mu.Unlock()
}

// lookup returns the call indexed under key, or nil.
func (x *Index) lookup(key string) *call {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.calls[key]
}
