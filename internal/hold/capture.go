package hold

import (
	"net/http"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// passLimit is how much of an answer that is not an event stream may arrive
// within the grace period before it is let through as it comes.
const passLimit = 256 << 10

// Header returns the header map the next handler fills before WriteHeader.
// It is the call's own, never the client's. Once the status is written the
// map is the call's record of the upstream's headers, and a later change
// (which http.ResponseWriter ignores too) goes to a map of its own.
func (c *call) Header() http.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != 0 && c.snapshot != nil {
		return make(http.Header)
	}
	return c.header
}

// WriteHeader records the status and a copy of the headers. Informational
// (1xx) statuses are ignored: the held client gets none of them.
func (c *call) WriteHeader(code int) {
	if code < 200 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeHeader(code)
}

// writeHeader is WriteHeader; c.mu must be held.
func (c *call) writeHeader(code int) {
	if c.status != 0 {
		return
	}
	c.status = code
	c.snapshot = c.header
	if c.state == stateCommitted {
		c.prod.header(code, c.snapshot)
	}
}

// Write takes body bytes of the upstream's answer: captured within the grace
// period, passed to the client once the answer streams through, and turned
// into the stream's events once the call is committed.
func (c *call) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.status == 0 {
		c.writeHeader(http.StatusOK)
	}
	c.total += int64(len(p))
	switch c.state {
	case stateGrace:
		c.buf = append(c.buf, p...)
		if len(c.buf) < passLimit || mcpmsg.IsMediaType(c.snapshot.Get("Content-Type"), "text/event-stream") {
			break
		}
		// A large answer is on its way: let it through as it comes
		// instead of holding all of it in memory.
		c.state = stateThrough
		c.stopGrace()
		c.unindex()
		c.h.held.Release()
		buf := c.buf
		c.buf = nil
		c.mu.Unlock()
		for k, v := range c.snapshot {
			c.w.Header()[k] = v
		}
		c.w.WriteHeader(c.status)
		c.through(buf)
		return len(p), nil
	case stateThrough:
		c.mu.Unlock()
		c.through(p)
		return len(p), nil
	case stateCommitted:
		c.prod.body(p)
		live := c.live
		c.mu.Unlock()
		if live != nil {
			live.kick()
		}
		return len(p), nil
	}
	c.mu.Unlock()
	return len(p), nil
}

// through writes bytes of an answer that streams through to the client, and
// flushes them. Once the client is gone the rest is discarded: the upstream
// call goes on to its end.
func (c *call) through(p []byte) {
	if c.gone || len(p) == 0 {
		return
	}
	_, err := c.w.Write(p)
	if err == nil {
		err = http.NewResponseController(c.w).Flush()
	}
	c.gone = err != nil
}

// Flush is a no-op that lets http.NewResponseController find a flusher: every
// Write is taken at once.
func (c *call) Flush() {}
