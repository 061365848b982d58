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

	// Split mode; see Split.
	splitAt   int
	part      func(p []byte)
	parted    bool // the event being built passed its data on to part
	streaming bool // the unfinished line is a data line being passed on
}

// NewDecoder returns a Decoder that refuses events larger than maxEvent bytes
// (0 means no limit).
func NewDecoder(maxEvent int) *Decoder {
	return &Decoder{maxEvent: maxEvent}
}

// Split makes the decoder pass an event's data on in pieces once it grows past
// n bytes, so that a large event is never held in memory. Once the data of the
// event being built exceeds n bytes, the data gathered so far and every later
// data byte of that event go to part, in order and with a '\n' between data
// lines exactly where Data would have one; a data line still arriving is
// passed on as it comes. At its end the event is emitted with empty Data and
// Parted set; events whose data stays within n are emitted as without Split.
// The slice given to part is valid only during the call. Parts passed on
// before the event went past the size limit (see NewDecoder) are not taken
// back. A nil part turns split mode off; call Split before the first Feed.
func (d *Decoder) Split(n int, part func(p []byte)) {
	d.splitAt, d.part = max(n, 0), part
}

// LastEventID returns the last id the stream set, as the standard defines it.
func (d *Decoder) LastEventID() string { return d.lastID }

// Retry returns the last valid retry value in milliseconds, and whether one
// was seen.
func (d *Decoder) Retry() (int, bool) { return d.retry, d.sawRetry }

// tooLarge reports whether an event went past the size limit. Once it has,
// Feed returns no more events.
func (d *Decoder) tooLarge() bool { return d.overLimit }

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
			d.grow(len(p))
			if d.overLimit {
				return
			}
			if d.streaming {
				d.part(p)
				return
			}
			d.line = append(d.line, p...)
			d.streamLine()
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
		if d.streaming {
			// The line's start went to part already.
			d.streaming = false
			if len(line) > 0 {
				d.part(line)
			}
			continue
		}
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
		if d.part != nil && (d.parted || d.dataLen(value) > d.splitAt) {
			d.partData(value)
			return
		}
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
	ev := Event{ID: d.lastID, Name: d.name, Data: d.data.String(), Parted: d.parted}
	d.data.Reset()
	d.parted = false
	d.hasData = false
	d.name = ""
	emit(ev)
}

// dataLen returns the length the event's data would have with value as its
// next data line, were it kept.
func (d *Decoder) dataLen(value []byte) int {
	n := d.data.Len() + len(value)
	if d.hasData {
		n++
	}
	return n
}

// streamLine starts passing the unfinished line on to part, in split mode,
// when it is a data line that takes the event past the split size. It waits
// for the byte after the colon, which tells whether a space is to be dropped.
func (d *Decoder) streamLine() {
	const prefix = "data:"
	if d.part == nil || len(d.line) <= len(prefix) || string(d.line[:len(prefix)]) != prefix {
		return
	}
	value := d.line[len(prefix):]
	if value[0] == ' ' {
		value = value[1:]
	}
	if !d.parted && d.dataLen(value) <= d.splitAt {
		return
	}
	d.partData(value)
	d.streaming = true
	d.line = d.line[:0]
}

// partData passes the data line value on to part, after the data kept so far
// if the event was not parted yet.
func (d *Decoder) partData(value []byte) {
	if !d.parted {
		d.parted = true
		if d.data.Len() > 0 {
			d.part([]byte(d.data.String()))
		}
		d.data.Reset()
	}
	if d.hasData {
		d.part(lineFeed)
	}
	if len(value) > 0 {
		d.part(value)
	}
	d.hasData = true
}

// lineFeed separates two data lines.
var lineFeed = []byte{'\n'}

// isDigits reports whether b is made of ASCII digits only.
func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
