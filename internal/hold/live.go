package hold

import (
	"sync"
	"sync/atomic"
)

// liveWriter writes a committed inline call's stream to the client of its
// POST without a goroutine of its own: whoever changed the stream (the
// upstream's writes on the request's goroutine, the keep-alive timer, the
// end of the call) kicks it, and the first to get hold of it writes what is
// new, including what others added meanwhile. One writer at a time; nobody
// waits for another, so a slow client never holds a timer up.
type liveWriter struct {
	sw    *streamWriter
	dirty atomic.Bool
	mu    sync.Mutex
	// Guarded by mu.
	started bool // the headers are written
	over    bool // nothing more is written: the stream ended or the client left
	closed  bool // the request is ending: w may not be used any more
	headers func()
}

// kick writes what the client has not seen, unless another goroutine is
// writing, which then writes it too.
func (lw *liveWriter) kick() {
	for {
		lw.dirty.Store(true)
		if !lw.mu.TryLock() {
			return
		}
		for lw.dirty.Swap(false) {
			lw.write()
		}
		lw.mu.Unlock()
		// A kick that came between the last write and the unlock found
		// the lock taken; it is ours to write.
		if !lw.dirty.Load() {
			return
		}
	}
}

// write writes once; lw.mu must be held.
func (lw *liveWriter) write() {
	if lw.over || lw.closed {
		return
	}
	if !lw.started {
		lw.started = true
		lw.headers()
	}
	_, over, err := lw.sw.step()
	if err != nil {
		lw.sw.gone()
	}
	lw.over = over
}

// close writes what is left and ends the writer: after it, w is not used.
// The request's goroutine calls it before the request ends, and waits for a
// writer at work to finish.
func (lw *liveWriter) close() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.dirty.Store(false)
	lw.write()
	lw.closed = true
}
