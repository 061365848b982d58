package legacy

import "bytes"

// splitter cuts an event stream's raw bytes into segments at the points where
// something else may be written to the same stream without changing how a
// receiver parses it: after the blank line that ends an event, and after a
// comment or blank line outside an event. Lines end with CR, LF or CRLF, as
// the WHATWG parsing rules say. The segments are the stream's exact bytes;
// nothing is decoded here.
type splitter struct {
	buf     []byte // bytes pushed and not yet returned as a segment, from off
	off     int    // start of the segment being built
	pos     int    // end of the last complete line
	scan    int    // how far the current line was searched for a line break
	inEvent bool   // a field line came since the last blank line
	skipLF  bool   // the last line ended in CR at the end of buf: an LF next is its pair
	started bool   // the first line was classified (a byte order mark may lead it)
}

// keepBuffer is the largest buffer kept for reuse once it is empty; the
// buffer of a larger event is let go after it.
const keepBuffer = 64 << 10

// push appends p. Segments returned earlier by next are no longer valid.
func (s *splitter) push(p []byte) {
	if s.off == len(s.buf) && cap(s.buf) > keepBuffer {
		s.buf, s.off, s.pos, s.scan = nil, 0, 0, 0
	}
	if s.off > 0 {
		n := copy(s.buf, s.buf[s.off:])
		s.buf = s.buf[:n]
		s.pos -= s.off
		s.scan -= s.off
		s.off = 0
	}
	s.buf = append(s.buf, p...)
}

// next returns the next complete segment, or false when the bytes pushed so
// far hold none. The segment aliases the splitter's buffer: it is valid until
// the next push.
func (s *splitter) next() ([]byte, bool) {
	for s.pos < len(s.buf) {
		if s.skipLF {
			// An LF whose CR ended a segment already returned travels at
			// the head of the next one; at a segment boundary a receiver
			// takes it for an empty line, which dispatches nothing.
			s.skipLF = false
			if s.buf[s.pos] == '\n' {
				s.pos++
				s.scan = s.pos
				continue
			}
		}
		if s.scan < s.pos {
			s.scan = s.pos
		}
		i := bytes.IndexAny(s.buf[s.scan:], "\r\n")
		if i < 0 {
			s.scan = len(s.buf)
			return nil, false
		}
		i += s.scan
		line := s.buf[s.pos:i]
		end := i + 1
		if s.buf[i] == '\r' {
			switch {
			case end == len(s.buf):
				s.skipLF = true
			case s.buf[end] == '\n':
				end++
			}
		}
		s.pos, s.scan = end, end
		if !s.started {
			s.started = true
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		switch {
		case len(line) == 0, line[0] == ':' && !s.inEvent:
			s.inEvent = false
			seg := s.buf[s.off:s.pos]
			s.off = s.pos
			return seg, true
		case line[0] != ':':
			s.inEvent = true
		}
	}
	return nil, false
}

// pending returns how many bytes wait to complete a segment.
func (s *splitter) pending() int { return len(s.buf) - s.off }

// rest returns the bytes that complete no segment and empties the splitter.
// The result aliases the splitter's buffer: it is valid until the next push.
func (s *splitter) rest() []byte {
	r := s.buf[s.off:]
	s.buf, s.off, s.pos, s.scan = s.buf[:0], 0, 0, 0
	return r
}
