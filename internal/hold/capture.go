package hold

import (
	"net/http"
	"sync"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// captureLimit is how many body bytes the capture buffer holds, once the held
// call is committed, before the upstream's writes wait for the stream loop.
const captureLimit = 64 << 10

// capture is the private http.ResponseWriter that the next handler (normally
// reverse_proxy) writes the upstream's answer to. It is never the client's
// writer: its header map, status and body are its own, and the stream loop
// takes them from it. All methods are safe for concurrent use by one writer
// goroutine and one reader goroutine.
type capture struct {
	header http.Header // used only by the writer goroutine before WriteHeader

	mu       sync.Mutex
	space    *sync.Cond    // signalled when the buffer drains or the reader leaves
	notify   chan struct{} // capacity 1: something new to take
	status   int           // 0 until the final status is written
	snapshot http.Header   // copy of header taken at WriteHeader
	buf      []byte        // body bytes not yet taken
	total    int64         // body bytes written in all
	bounded  bool          // whether writes wait when buf is full
	closed   bool          // the reader is gone: writes are discarded
}

// newCapture returns an empty capture writer.
func newCapture() *capture {
	c := &capture{header: make(http.Header), notify: make(chan struct{}, 1)}
	c.space = sync.NewCond(&c.mu)
	return c
}

// Header returns the header map the writer fills before WriteHeader.
func (c *capture) Header() http.Header { return c.header }

// WriteHeader records the status and a copy of the headers. Informational
// (1xx) statuses are ignored: the held client gets none of them.
func (c *capture) WriteHeader(code int) {
	if code < 200 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != 0 {
		return
	}
	c.status = code
	c.snapshot = c.header.Clone()
	c.signal()
}

// Write appends p to the buffer. Once the call is committed, it waits while the
// buffer is full, so that a slow client holds the upstream back instead of
// growing memory; once the reader is gone, it discards p.
func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.status == 0 {
		c.mu.Unlock()
		c.WriteHeader(http.StatusOK)
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	for c.bounded && !c.closed && len(c.buf) >= captureLimit {
		c.space.Wait()
	}
	c.total += int64(len(p))
	if !c.closed {
		c.buf = append(c.buf, p...)
		c.signal()
	}
	return len(p), nil
}

// Flush is a no-op that lets http.NewResponseController find a flusher: every
// Write already wakes the reader.
func (c *capture) Flush() {}

// signal wakes the reader; c.mu must be held.
func (c *capture) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// response is what take returns: the status and headers once known, and the
// body bytes written since the last take.
type response struct {
	status int
	header http.Header
	body   []byte
}

// take returns the status, headers and the body bytes not taken before. The
// returned body is the caller's to keep.
func (c *capture) take() response {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := response{status: c.status, header: c.snapshot, body: c.buf}
	c.buf = nil
	c.space.Broadcast()
	return r
}

// passLimit is how much of an answer that is not an event stream may arrive
// within the grace period before it is let through as it comes.
const passLimit = 256 << 10

// arriving reports whether an answer that is not an event stream is
// arriving and already larger than passLimit.
func (c *capture) arriving() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status != 0 && len(c.buf) >= passLimit &&
		!mcpmsg.IsMediaType(c.snapshot.Get("Content-Type"), "text/event-stream")
}

// bound makes later writes wait while the buffer is full.
func (c *capture) bound() {
	c.mu.Lock()
	c.bounded = true
	c.mu.Unlock()
}

// close tells the writer that nobody reads any more: writes are discarded and
// no write waits.
func (c *capture) close() {
	c.mu.Lock()
	c.closed = true
	c.buf = nil
	c.space.Broadcast()
	c.mu.Unlock()
}

// written returns how many body bytes the upstream wrote in all.
func (c *capture) written() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}
