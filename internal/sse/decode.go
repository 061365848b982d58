package sse

import (
	"bytes"
	"strconv"
	"strings"
)

// Decoder parses an event stream incrementally: bytes go in with Feed in chunks
// of any size, split anywhere, and complete events come out. It follows the
// WHATWG parsing rules: CR, LF and CRLF all end a line, a leading byte order
// mark is dropped, comments are skipped, and an event without a data field is
// not dispatched. A priming event ("id: x" and an empty "data:" line) is
// dispatched with empty Data, as browsers do; callers that relay messages skip
// it. The zero value is ready to use.
type Decoder struct {
	line      []byte // the unfinished line
	started   bool   // whether the byte order mark check is done
	skipLF    bool   // the previous chunk ended in CR: an LF next is its pair
	data      strings.Builder
	hasData   bool
	name      string
	lastID    string
	retry     int
	sawRetry  bool
	pending   int // bytes buffered for the event being built
	maxEvent  int
	overLimit bool
}

// NewDecoder returns a Decoder that refuses events larger than maxEvent bytes
// (0 means no limit).
func NewDecoder(maxEvent int) *Decoder {
	return &Decoder{maxEvent: maxEvent}
}

// LastEventID returns the last id the stream set, as the standard defines it.
func (d *Decoder) LastEventID() string { return d.lastID }

// Retry returns the last valid retry value in milliseconds, and whether one
// was seen.
func (d *Decoder) Retry() (int, bool) { return d.retry, d.sawRetry }

// TooLarge reports whether an event went past the size limit. Once it has,
// Feed returns no more events.
func (d *Decoder) TooLarge() bool { return d.overLimit }

// Feed parses p and calls emit for each event it completes, in order. The
// event's ID is the stream's last event id at the time of dispatch.
func (d *Decoder) Feed(p []byte, emit func(Event)) {
	if !d.started {
		// The byte order mark may itself arrive split; wait for three bytes.
		d.line = append(d.line, p...)
		if len(d.line) < 3 && bytes.HasPrefix([]byte("\xEF\xBB\xBF"), d.line) {
			return
		}
		d.started = true
		p = bytes.TrimPrefix(d.line, []byte("\xEF\xBB\xBF"))
		d.line = nil
	}
	for len(p) > 0 && !d.overLimit {
		if d.skipLF {
			d.skipLF = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := bytes.IndexAny(p, lineBreaks)
		if i < 0 {
			d.line = append(d.line, p...)
			d.grow(len(p))
			return
		}
		var line []byte
		if len(d.line) > 0 {
			d.line = append(d.line, p[:i]...)
			line = d.line
		} else {
			line = p[:i]
		}
		d.grow(i)
		if d.overLimit {
			// Drop the line that went past the limit, as when it arrives
			// in pieces: what it sets must not depend on the chunking.
			return
		}
		if p[i] == '\r' {
			if i+1 < len(p) {
				if p[i+1] == '\n' {
					i++
				}
			} else {
				d.skipLF = true
			}
		}
		p = p[i+1:]
		d.processLine(line, emit)
		d.line = d.line[:0]
	}
}

// grow counts n more bytes toward the event size limit.
func (d *Decoder) grow(n int) {
	d.pending += n
	if d.maxEvent > 0 && d.pending > d.maxEvent {
		d.overLimit = true
		d.line = nil
		d.data.Reset()
	}
}

// processLine interprets one complete line.
func (d *Decoder) processLine(line []byte, emit func(Event)) {
	if len(line) == 0 {
		d.dispatch(emit)
		return
	}
	if line[0] == ':' {
		return
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "event":
		d.name = string(value)
	case "data":
		if d.hasData {
			d.data.WriteByte('\n')
		}
		d.data.Write(value)
		d.hasData = true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			d.lastID = string(value)
		}
	case "retry":
		if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 && isDigits(value) {
			d.retry, d.sawRetry = n, true
		}
	}
}

// dispatch ends the event being built and emits it if it has data.
func (d *Decoder) dispatch(emit func(Event)) {
	d.pending = 0
	if !d.hasData {
		d.name = ""
		return
	}
	ev := Event{ID: d.lastID, Name: d.name, Data: d.data.String()}
	d.data.Reset()
	d.hasData = false
	d.name = ""
	emit(ev)
}

// isDigits reports whether b is made of ASCII digits only.
func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
