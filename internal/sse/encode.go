package sse

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Event is one server-sent event.
type Event struct {
	// ID is the event's id field; empty means none is written.
	ID string
	// Name is the event type; empty means the default, "message".
	Name string
	// Data is the event's data. Line breaks (CRLF, LF or CR) separate it into
	// data lines, and a receiver joins them again with LF.
	Data string
	// Parted is set by a Decoder in split mode (see Decoder.Split) on an
	// event whose data was passed on in pieces rather than kept; Data is
	// then empty. WriteEvent ignores it.
	Parted bool
}

// String formats ev for logs and test failures, its strings quoted.
func (ev Event) String() string {
	return fmt.Sprintf("{ID:%+q Name:%+q Data:%+q Parted:%t}", ev.ID, ev.Name, ev.Data, ev.Parted)
}

// lineBreaks are the line terminators of the event stream format.
const lineBreaks = "\r\n"

// WriteEvent writes ev to w in the event stream format and returns the number
// of bytes written. A field that contains a line break cannot be encoded in one
// line, so ID and Name are cut at their first line break.
func WriteEvent(w io.Writer, ev Event) (int, error) {
	return w.Write(appendEvent(make([]byte, 0, len(ev.Data)+len(ev.ID)+len(ev.Name)+32), ev.ID, ev.Name, ev.Data))
}

// AppendEvent appends to dst the event that WriteEvent would write for the
// same id, name and data, and returns the extended slice: a writer that keeps
// dst between events encodes them without allocating.
func AppendEvent(dst []byte, id, name string, data []byte) []byte {
	return appendEvent(dst, id, name, data)
}

// appendEvent is AppendEvent for data of either type.
func appendEvent[T string | []byte](b []byte, id, name string, data T) []byte {
	if id != "" {
		b = append(b, "id: "...)
		b = append(b, firstLine(id)...)
		b = append(b, '\n')
	}
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, firstLine(name)...)
		b = append(b, '\n')
	}
	for {
		b = append(b, "data: "...)
		i := indexLineBreak(data)
		if i < 0 {
			b = append(b, data...)
			b = append(b, '\n')
			break
		}
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(b, '\n')
}

// indexLineBreak returns the index of the first CR or LF in s, or -1.
func indexLineBreak[T string | []byte](s T) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return i
		}
	}
	return -1
}

// AppendComment appends to dst the comment line that WriteComment would
// write for text.
func AppendComment(dst []byte, text string) []byte {
	dst = append(dst, ": "...)
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, "\n\n"...)
}

// WriteComment writes a comment line, which receivers ignore but which keeps
// idle timers along the way from firing. Line breaks in text become spaces.
func WriteComment(w io.Writer, text string) (int, error) {
	text = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, text)
	return io.WriteString(w, ": "+text+"\n\n")
}

// firstLine returns s up to its first line break.
func firstLine(s string) string {
	if i := strings.IndexAny(s, lineBreaks); i >= 0 {
		return s[:i]
	}
	return s
}

// WriteRetry writes a retry field, which sets the receiver's reconnection
// delay, rounded to whole milliseconds.
func WriteRetry(w io.Writer, d time.Duration) (int, error) {
	return io.WriteString(w, "retry: "+strconv.FormatInt(d.Milliseconds(), 10)+"\n\n")
}

// inlineLimit is the largest event data WriteEventBytes copies to write the
// event in one Write; larger data is written line by line, uncopied.
const inlineLimit = 32 << 10

// WriteEventBytes writes an event like WriteEvent, with its data given as
// bytes. Small events go out in one Write; a large one is written in pieces
// straight from data, so that a large result is not copied again.
func WriteEventBytes(w io.Writer, id, name string, data []byte) (int, error) {
	if len(data) <= inlineLimit {
		return WriteEvent(w, Event{ID: id, Name: name, Data: string(data)})
	}
	var head bytes.Buffer
	if id != "" {
		head.WriteString("id: " + firstLine(id) + "\n")
	}
	if name != "" {
		head.WriteString("event: " + firstLine(name) + "\n")
	}
	total := 0
	write := func(b []byte) error {
		n, err := w.Write(b)
		total += n
		return err
	}
	if err := write(head.Bytes()); err != nil {
		return total, err
	}
	for {
		if err := write([]byte("data: ")); err != nil {
			return total, err
		}
		i := bytes.IndexAny(data, lineBreaks)
		if i < 0 {
			if err := write(data); err != nil {
				return total, err
			}
			break
		}
		if err := write(data[:i]); err != nil {
			return total, err
		}
		if err := write([]byte("\n")); err != nil {
			return total, err
		}
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	err := write([]byte("\n\n"))
	return total, err
}

// WriteEventFrom writes an event like WriteEventBytes, with its data read from
// r, in bounded memory: it reads data in chunks of at most 32 KiB and holds no
// more than one chunk. Data that fits in one chunk goes out in one Write, as
// WriteEventBytes does; larger data is written piece by piece as it is read.
// It returns the number of bytes written. If reading data fails, the event is
// left unfinished on w and the read error is returned, wrapped.
func WriteEventFrom(w io.Writer, id, name string, data io.Reader) (int64, error) {
	buf := make([]byte, inlineLimit)
	n, err := io.ReadFull(data, buf)
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		written, err := WriteEventBytes(w, id, name, buf[:n])
		return int64(written), err
	case nil:
	default:
		return 0, fmt.Errorf("reading event data: %w", err)
	}
	e := streamEncoder{w: w}
	if id != "" {
		e.write([]byte("id: " + firstLine(id) + "\n"))
	}
	if name != "" {
		e.write([]byte("event: " + firstLine(name) + "\n"))
	}
	e.write([]byte("data: "))
	e.data(buf[:n])
	for e.err == nil {
		n, err := data.Read(buf)
		e.data(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return e.total, fmt.Errorf("reading event data: %w", err)
		}
	}
	e.write([]byte("\n\n"))
	return e.total, e.err
}

// nextDataLine ends a data line and starts the next.
var nextDataLine = []byte("\ndata: ")

// streamEncoder writes the data lines of one event as its data arrives in
// pieces. It remembers the first write error and then writes nothing more.
type streamEncoder struct {
	w     io.Writer
	total int64
	err   error
	// afterCR is set when the last piece ended in CR: an LF starting the
	// next piece completes that line break rather than making another.
	afterCR bool
}

// write writes b unless an earlier write failed.
func (e *streamEncoder) write(b []byte) {
	if e.err != nil || len(b) == 0 {
		return
	}
	n, err := e.w.Write(b)
	e.total += int64(n)
	e.err = err
}

// data writes the next piece of the event's data, starting a new data line
// at each line break.
func (e *streamEncoder) data(p []byte) {
	if len(p) == 0 {
		return
	}
	if e.afterCR && p[0] == '\n' {
		p = p[1:]
	}
	e.afterCR = false
	for e.err == nil {
		i := bytes.IndexAny(p, lineBreaks)
		if i < 0 {
			e.write(p)
			return
		}
		e.write(p[:i])
		e.write(nextDataLine)
		if p[i] == '\r' {
			if i+1 == len(p) {
				e.afterCR = true
			} else if p[i+1] == '\n' {
				i++
			}
		}
		p = p[i+1:]
	}
}
