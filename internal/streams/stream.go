package streams

import (
	"context"
	"sync"
	"time"
)

// Event is one event of a stream.
type Event struct {
	// Seq is the event's place in its stream; 0 for a comment.
	Seq uint64
	// Name is the SSE event name; empty for the default.
	Name string
	// Data is the event's data, a JSON-RPC message; for a comment, its text.
	Data []byte
	// Comment marks a comment line, which carries no id.
	Comment bool
}

// size is what an event counts against the store's limit.
func (e *Event) size() int64 { return int64(len(e.Data)+len(e.Name)) + 32 }

// Stream is the event log of one held call. One producer appends to it;
// any number of readers read it. Its methods are safe for concurrent use.
type Stream struct {
	// ID is the stream's unguessable id.
	ID    string
	owner Owner
	call  string // the owner's key of the held request, for cancellation
	store *Store
	limit int64 // the most bytes the store may hold when this stream grows

	mu        sync.Mutex
	seq       uint64
	events    []Event // durable events, by increasing Seq
	eph       []Event // the latest keep-alives
	ephVer    uint64  // bumped with each keep-alive
	done      bool
	final     bool // the last durable event is the final response
	size      int64
	changed   chan struct{} // closed and replaced on every change
	cancel    func()
	cancelled bool
	readers   []context.Context

	// Guarded by the store's lock.
	removed bool
	running bool // counted among the store's running calls
}

// Attach counts a reader whose request has the context ctx, until the
// returned function is called.
func (s *Stream) Attach(ctx context.Context) (detach func()) {
	s.mu.Lock()
	s.readers = append(s.readers, ctx)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, c := range s.readers {
			if c == ctx {
				s.readers = append(s.readers[:i], s.readers[i+1:]...)
				return
			}
		}
	}
}

// Readers returns how many readers are attached whose client is still there.
func (s *Stream) Readers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.readers {
		if c.Err() == nil {
			n++
		}
	}
	return n
}

// Owner returns who may read the stream.
func (s *Stream) Owner() Owner { return s.owner }

// Append adds a durable event and returns its sequence number. final marks
// the call's response, which is never dropped for space. After Cancel it
// adds nothing and returns 0.
func (s *Stream) Append(name string, data []byte, final bool) uint64 {
	s.mu.Lock()
	if s.cancelled {
		s.mu.Unlock()
		return 0
	}
	s.seq++
	ev := Event{Seq: s.seq, Name: name, Data: data}
	s.events = append(s.events, ev)
	s.final = final
	s.size += ev.size()
	s.signal()
	s.mu.Unlock()
	s.store.grow(s, ev.size())
	return ev.Seq
}

// maxQueued is how many progress notifications wait for readers at most;
// older ones are dropped first.
const maxQueued = 8

// Progress adds progress notifications, one per data, each with its own
// sequence number, to the stream's keep-alives. They queue after the ones
// not yet superseded (up to maxQueued), so that a reader that wakes late
// still sees each one in order rather than only the latest.
func (s *Stream) Progress(data ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelled {
		return
	}
	if len(s.eph) > 0 && s.eph[0].Comment {
		s.eph = s.eph[:0]
	}
	for _, d := range data {
		if len(s.eph) >= maxQueued {
			s.eph = append(s.eph[:0], s.eph[1:]...)
		}
		s.seq++
		s.eph = append(s.eph, Event{Seq: s.seq, Data: d})
	}
	s.ephVer++
	s.signal()
}

// Comment replaces the stream's keep-alives with a comment line.
func (s *Stream) Comment(text []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelled {
		return
	}
	s.eph = append(s.eph[:0], Event{Data: text, Comment: true})
	s.ephVer++
	s.signal()
}

// Finish marks the call over: readers get what is left and end. The stream
// stays readable for ttl (0: it is removed at once).
func (s *Stream) Finish(ttl time.Duration) {
	s.mu.Lock()
	s.done = true
	s.cancel = nil
	s.signal()
	s.mu.Unlock()
	s.store.finish(s, ttl)
}

// Cancel ends the call as its client asked: the cancel function given to
// Store.Create runs, readers end without anything more, and the stream is
// removed. It reports whether the call was still running.
func (s *Stream) Cancel() bool {
	s.mu.Lock()
	if s.done || s.cancelled {
		s.mu.Unlock()
		return false
	}
	s.cancelled = true
	cancel := s.cancel
	s.events, s.eph = nil, nil
	s.signal()
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.store.remove(s)
	return true
}

// Cancelled reports whether the call was cancelled.
func (s *Stream) Cancelled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancelled
}

// Batch is what a reader gets from one Read.
type Batch struct {
	// Events are the durable events after the reader's cursor.
	Events []Event
	// KeepAlives are the latest keep-alives when they are newer than the
	// ones the reader saw and, for progress, later than its cursor.
	KeepAlives []Event
	// KeepAliveVer is the version to pass to the next Read.
	KeepAliveVer uint64
	// Done tells that the stream is over: nothing will follow Events.
	Done bool
	// Cancelled tells that the call was cancelled.
	Cancelled bool
	// Changed is closed when something new may be read.
	Changed <-chan struct{}
}

// Read returns what a reader whose last event was cursor, and whose last
// keep-alive was version ephVer, has not seen yet.
func (s *Stream) Read(cursor, ephVer uint64) Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := Batch{KeepAliveVer: s.ephVer, Done: s.done || s.cancelled, Cancelled: s.cancelled, Changed: s.changed}
	// Events are by Seq; find the first after cursor.
	i := len(s.events)
	for i > 0 && s.events[i-1].Seq > cursor {
		i--
	}
	if i < len(s.events) {
		b.Events = append([]Event(nil), s.events[i:]...)
		cursor = b.Events[len(b.Events)-1].Seq
	}
	if s.ephVer > ephVer {
		for _, e := range s.eph {
			if e.Comment || e.Seq > cursor {
				b.KeepAlives = append(b.KeepAlives, e)
			}
		}
	}
	return b
}

// signal wakes the readers; s.mu must be held.
func (s *Stream) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// trim drops the oldest durable events, never the final response, until at
// least want bytes are freed or nothing more may go. It returns the bytes
// freed.
func (s *Stream) trim(want int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var freed int64
	keep := len(s.events)
	if s.final {
		keep--
	}
	n := 0
	for n < keep && freed < want {
		freed += s.events[n].size()
		n++
	}
	if n > 0 {
		s.events = append([]Event(nil), s.events[n:]...)
		s.size -= freed
	}
	return freed
}
