package streams

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	// It is nil when the data was spilled to disk: Stream.Open reads it.
	Data []byte
	// Size is the length of the event's data.
	Size int64
	// Comment marks a comment line, which carries no id.
	Comment bool

	spilled bool  // the data is in the stream's spill file
	off     int64 // where, when spilled
}

// memSize is what an event counts against the store's Memory limit:
// nothing when its data is spilled, else its data, its name and a little
// for the rest.
func (e *Event) memSize() int64 {
	if e.spilled {
		return 0
	}
	return e.Size + int64(len(e.Name)) + 32
}

// Stream is the event log of one held call. One producer appends to it;
// any number of readers read it. Its methods are safe for concurrent use,
// except that Append, Begin, Finish and the EventWriter belong to the
// producer's goroutine.
type Stream struct {
	// ID is the stream's unguessable id.
	ID    string
	owner Owner
	call  string // the owner's key of the held request, for cancellation
	store *Store
	lim   Limits
	spill *spillFile

	writer *EventWriter // the event being written, if any; the producer's
	mirror StreamMirror // the copy in a shared store, if any; set under mu, read by the producer

	mu        sync.Mutex
	seq       uint64
	events    []Event // durable events, by increasing Seq
	dropped   uint64  // the highest Seq dropped for space, 0 if none
	eph       []Event // the latest keep-alives
	ephVer    uint64  // bumped with each keep-alive
	done      bool
	final     bool          // the last durable event is the final response
	changed   chan struct{} // closed and replaced on every change
	cancel    func()
	cancelled bool
	readers   []context.Context

	// Guarded by the store's lock.
	removed  bool
	running  bool  // counted among the store's running calls
	mem      int64 // what the events count in the store's memory
	memData  int64 // bytes of event data kept in memory, against SpillAfter
	spilled  int64 // bytes counted in the spill file
	spillEnd int64 // where the next spilled bytes go
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

// errWriting is what Append returns while an EventWriter is open.
var errWriting = errors.New("appending while an event is being written")

// Append adds a durable event and returns its sequence number. final marks
// the call's response, which is never dropped for space. The data stays in
// memory while the stream is under SpillAfter and the store has room;
// otherwise it goes to the stream's spill file, and if there is no room
// there either the event is not added and the error is ErrSpillFull (or an
// I/O error). The store keeps data, not a copy: the caller must not change
// it. After Cancel it adds nothing and returns 0.
func (s *Stream) Append(name string, data []byte, final bool) (uint64, error) {
	if s.writer != nil {
		return 0, errWriting
	}
	return s.add(name, data, final)
}

// add stores data where the store places it and adds it as an event.
func (s *Stream) add(name string, data []byte, final bool) (uint64, error) {
	if s.Cancelled() {
		return 0, nil
	}
	ev := Event{Name: name, Data: data, Size: int64(len(data))}
	spill, off, err := s.store.place(s, ev.Size, ev.memSize())
	if err != nil {
		return 0, ignoreRemoved(err)
	}
	if spill {
		if err := s.writeSpill(off, data); err != nil {
			return 0, ignoreRemoved(err)
		}
		ev.Data, ev.spilled, ev.off = nil, true, off
	}
	return s.publish(ev, final)
}

// publish makes ev, whose data is stored, the stream's next durable event,
// then makes room in the store if it is over its limit.
func (s *Stream) publish(ev Event, final bool) (uint64, error) {
	if !s.store.count(s, &ev) {
		return 0, nil
	}
	s.mu.Lock()
	if s.cancelled {
		// Cancel removed the stream and uncounted the event with it.
		s.mu.Unlock()
		return 0, nil
	}
	s.seq++
	ev.Seq = s.seq
	s.events = append(s.events, ev)
	s.final = final
	s.signal()
	s.mu.Unlock()
	if s.mirror != nil {
		s.mirror.Event(ev, final)
	}
	s.store.evict(s)
	return ev.Seq, nil
}

// writeSpill writes parts to the spill file at off, which the store reserved
// for them, and gives the space back if that fails.
func (s *Stream) writeSpill(off int64, parts ...[]byte) error {
	err := s.spill.writeAt(off, parts...)
	if err == nil {
		return nil
	}
	var n int64
	for _, p := range parts {
		n += int64(len(p))
	}
	if errors.Is(err, errRemoved) {
		return err
	}
	if s.spill.truncate(off) == nil {
		s.store.unreserve(s, off, n)
	}
	return fmt.Errorf("spilling event data: %w", err)
}

// ignoreRemoved turns errRemoved, which means the stream was cancelled
// under the producer, into no error.
func ignoreRemoved(err error) error {
	if errors.Is(err, errRemoved) {
		return nil
	}
	return err
}

// Open returns a reader of the data of ev, an event of s: from memory, or
// from the spill file. It is safe to use concurrently with the producer and
// other readers; once the stream is removed from the store, reading a
// spilled event fails with an error.
func (s *Stream) Open(ev Event) (io.Reader, error) {
	if !ev.spilled {
		return bytes.NewReader(ev.Data), nil
	}
	s.spill.mu.RLock()
	gone := s.spill.closed || s.spill.f == nil
	s.spill.mu.RUnlock()
	if gone {
		return nil, fmt.Errorf("opening event %d: %w", ev.Seq, errRemoved)
	}
	return io.NewSectionReader(s.spill, ev.off, ev.Size), nil
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
		s.eph = append(s.eph, Event{Seq: s.seq, Data: d, Size: int64(len(d))})
	}
	s.ephVer++
	s.signal()
	if s.mirror != nil && len(s.eph) > 0 {
		s.mirror.Progress(s.eph[len(s.eph)-1])
	}
}

// Comment replaces the stream's keep-alives with a comment line.
func (s *Stream) Comment(text []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelled {
		return
	}
	s.eph = append(s.eph[:0], Event{Data: text, Size: int64(len(text)), Comment: true})
	s.ephVer++
	s.signal()
}

// Finish marks the call over: readers get what is left and end. The stream
// stays readable for ttl (0: it is removed at once). An EventWriter still
// open is discarded.
func (s *Stream) Finish(ttl time.Duration) {
	if s.writer != nil {
		s.writer.Discard()
	}
	s.mu.Lock()
	s.done = true
	s.cancel = nil
	s.signal()
	s.mu.Unlock()
	if s.mirror != nil {
		s.mirror.Finish(ttl)
	}
	s.store.finish(s, ttl)
}

// Cancel ends the call as its client asked: the cancel function given to
// Store.Create runs, readers end without anything more, and the stream is
// removed, its spill file with it. It reports whether the call was still
// running: once the response is in (the final event), a cancel comes too
// late and changes nothing, so that readers still get the response.
func (s *Stream) Cancel() bool {
	s.mu.Lock()
	if s.done || s.final || s.cancelled {
		s.mu.Unlock()
		return false
	}
	s.cancelled = true
	cancel, mirror := s.cancel, s.mirror
	s.events, s.eph = nil, nil
	s.signal()
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if mirror != nil {
		mirror.Cancel()
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
	// Events are the durable events after the reader's cursor. A spilled
	// event's Data is nil: Stream.Open reads it.
	Events []Event
	// Gap tells that events after the reader's cursor were dropped for
	// space: the stream cannot be taken up from there. Events and
	// KeepAlives are then empty.
	Gap bool
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
// keep-alive was version ephVer, has not seen yet; or, if events after
// cursor were dropped for space, a Batch with Gap set and no events.
func (s *Stream) Read(cursor, ephVer uint64) Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := Batch{KeepAliveVer: s.ephVer, Done: s.done || s.cancelled, Cancelled: s.cancelled, Changed: s.changed}
	if cursor < s.dropped && !s.cancelled {
		// Keep-alives are left out too: a reader that wrote one would move
		// its cursor past the hole.
		b.Gap = true
		return b
	}
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
// least want bytes of memory are freed or nothing more may go. The dropped
// events are a prefix ending with one kept in memory, spilled ones included
// (no reader could get them past the gap), and Read reports a gap to
// readers behind the last of them. It returns the memory freed and, of it,
// the bytes of event data; the store's lock must be held.
func (s *Stream) trim(want int64) (freed, data int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := len(s.events)
	if s.final {
		keep--
	}
	// The prefix ends with an event in memory: dropping spilled events
	// after it would free nothing.
	n := 0
	for i := 0; i < keep && freed < want; i++ {
		if ev := &s.events[i]; !ev.spilled {
			freed += ev.memSize()
			data += ev.Size
			n = i + 1
		}
	}
	if n > 0 {
		s.dropped = s.events[n-1].Seq
		s.events = append([]Event(nil), s.events[n:]...)
	}
	return freed, data
}
