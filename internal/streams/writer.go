package streams

import "errors"

// errWriterClosed is what an EventWriter returns once committed or
// discarded.
var errWriterClosed = errors.New("event writer already committed or discarded")

// EventWriter writes the data of one durable event of a stream, for results
// too large to hold in memory. Readers see nothing of it until Commit. It
// belongs to the stream's producer.
type EventWriter struct {
	s       *Stream
	buf     []byte // the data while it is held in memory
	spilled bool   // the data is in the spill file, from off on
	off, n  int64
	closed  bool
}

// Begin starts an event whose data is streamed in through the returned
// EventWriter; one the producer left open is discarded. Until the event is
// committed or discarded, Append fails.
func (s *Stream) Begin() *EventWriter {
	if s.writer != nil {
		s.writer.Discard()
	}
	s.writer = &EventWriter{s: s}
	return s.writer
}

// Write appends p to the event's data: in memory while the event is small
// and the stream under its SpillAfter, then in the spill file. When the
// spill files have no room for p it writes nothing and returns ErrSpillFull.
// After Cancel it drops p and reports success.
func (w *EventWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errWriterClosed
	}
	s := w.s
	if s.Cancelled() {
		return len(p), nil
	}
	if w.spilled {
		off, err := s.store.reserve(s, int64(len(p)))
		if err == nil {
			err = s.writeSpill(off, p)
		}
		if err != nil {
			return 0, ignoreRemoved(err)
		}
		w.n += int64(len(p))
		return len(p), nil
	}
	n := int64(len(w.buf) + len(p))
	if s.store.inMemory(s, n) {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	off, err := s.store.reserve(s, n)
	if err == nil {
		err = s.writeSpill(off, w.buf, p)
	}
	if err != nil {
		return 0, ignoreRemoved(err)
	}
	w.buf, w.spilled, w.off, w.n = nil, true, off, n
	return len(p), nil
}

// Commit adds the data written as the stream's next durable event, named
// name, and returns its sequence number; final marks the call's response.
// Data still in memory is placed as Append places it. After Cancel it adds
// nothing and returns 0.
func (w *EventWriter) Commit(name string, final bool) (uint64, error) {
	if w.closed {
		return 0, errWriterClosed
	}
	w.close()
	if !w.spilled {
		buf := w.buf
		w.buf = nil
		return w.s.add(name, buf, final)
	}
	return w.s.publish(Event{Name: name, Size: w.n, spilled: true, off: w.off}, final)
}

// Discard drops the data written, giving its room in the spill file back.
// It does nothing after Commit.
func (w *EventWriter) Discard() {
	if w.closed {
		return
	}
	w.close()
	w.buf = nil
	if w.spilled && w.s.spill.truncate(w.off) == nil {
		w.s.store.unreserve(w.s, w.off, w.n)
	}
}

// close ends the writer and frees its stream for the next event.
func (w *EventWriter) close() {
	w.closed = true
	if w.s.writer == w {
		w.s.writer = nil
	}
}
