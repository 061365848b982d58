package sse

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestWriteEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"data only", Event{Data: "hello"}, "data: hello\n\n"},
		{"empty data", Event{}, "data: \n\n"},
		{"LF", Event{Data: "a\nb\nc"}, "data: a\ndata: b\ndata: c\n\n"},
		{"CRLF", Event{Data: "a\r\nb\r\nc"}, "data: a\ndata: b\ndata: c\n\n"},
		{"lone CR", Event{Data: "a\rb\rc"}, "data: a\ndata: b\ndata: c\n\n"},
		{"mixed breaks", Event{Data: "a\nb\r\nc\rd"}, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"blank line in data", Event{Data: "a\n\nb"}, "data: a\ndata: \ndata: b\n\n"},
		{"CRLF blank line in data", Event{Data: "a\r\n\r\nb"}, "data: a\ndata: \ndata: b\n\n"},
		{"CR CR is two breaks", Event{Data: "a\r\rb"}, "data: a\ndata: \ndata: b\n\n"},
		{"LF CR is two breaks", Event{Data: "a\n\rb"}, "data: a\ndata: \ndata: b\n\n"},
		{"trailing LF", Event{Data: "a\n"}, "data: a\ndata: \n\n"},
		{"trailing CRLF", Event{Data: "a\r\n"}, "data: a\ndata: \n\n"},
		{"trailing CR", Event{Data: "a\r"}, "data: a\ndata: \n\n"},
		{"leading LF", Event{Data: "\na"}, "data: \ndata: a\n\n"},
		{"only a CR", Event{Data: "\r"}, "data: \ndata: \n\n"},
		{"only a CRLF", Event{Data: "\r\n"}, "data: \ndata: \n\n"},
		{"leading space kept", Event{Data: " a"}, "data:  a\n\n"},
		{"colons kept", Event{Data: "a: b:c"}, "data: a: b:c\n\n"},
		{"looks like a field", Event{Data: "id: 5\nevent: x"}, "data: id: 5\ndata: event: x\n\n"},
		{"JSON", Event{Data: `{"jsonrpc":"2.0","id":1,"result":{}}`}, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"},
		{"id and name", Event{ID: "7", Name: "message", Data: "x"}, "id: 7\nevent: message\ndata: x\n\n"},
		{"id only", Event{ID: "abc", Data: "x"}, "id: abc\ndata: x\n\n"},
		{"name only", Event{Name: "ping", Data: "x"}, "event: ping\ndata: x\n\n"},
		{"id cut at LF", Event{ID: "a\nb", Data: "x"}, "id: a\ndata: x\n\n"},
		{"id cut at CR", Event{ID: "a\rb", Data: "x"}, "id: a\ndata: x\n\n"},
		{"id cut at CRLF", Event{ID: "a\r\nb", Data: "x"}, "id: a\ndata: x\n\n"},
		{"name cut at LF", Event{Name: "up\ndate", Data: "x"}, "event: up\ndata: x\n\n"},
		{"name cut at CR", Event{Name: "up\rdate", Data: "x"}, "event: up\ndata: x\n\n"},
		{"id and name cut, data split", Event{ID: "1\r\n2", Name: "n\nm", Data: "a\rb"}, "id: 1\nevent: n\ndata: a\ndata: b\n\n"},
		{"unicode", Event{ID: "é", Name: "ü", Data: "😀\n€"}, "id: é\nevent: ü\ndata: 😀\ndata: €\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			n, err := WriteEvent(&b, tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("WriteEvent(%+q)\n got %q\nwant %q", tt.ev, got, tt.want)
			}
			if n != b.Len() {
				t.Errorf("WriteEvent returned %d, wrote %d bytes", n, b.Len())
			}
		})
	}
}

// TestWriteEventOneWrite checks that an event goes out in a single Write, so
// that concurrent writers on one connection cannot interleave inside it.
func TestWriteEventOneWrite(t *testing.T) {
	var w countingWriter
	if _, err := WriteEvent(&w, Event{ID: "1", Name: "n", Data: strings.Repeat("line\n", 100)}); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 {
		t.Errorf("WriteEvent made %d writes, want 1", w.writes)
	}
	if _, err := WriteComment(&w, "keepalive"); err != nil {
		t.Fatal(err)
	}
	if w.writes != 2 {
		t.Errorf("WriteComment made %d writes, want 1", w.writes-1)
	}
}

func TestWriteErrors(t *testing.T) {
	boom := errors.New("boom")
	w := &failingWriter{n: 3, err: boom}
	n, err := WriteEvent(w, Event{Data: "hello"})
	if !errors.Is(err, boom) || n != 3 {
		t.Errorf("WriteEvent to a failing writer = %d, %v; want 3, %v", n, err, boom)
	}
	n, err = WriteComment(w, "hello")
	if !errors.Is(err, boom) || n != 3 {
		t.Errorf("WriteComment to a failing writer = %d, %v; want 3, %v", n, err, boom)
	}
}

func TestWriteComment(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"keepalive", ": keepalive\n\n"},
		{"", ": \n\n"},
		{"a\nb", ": a b\n\n"},
		{"a\rb", ": a b\n\n"},
		{"a\r\nb", ": a  b\n\n"},
		{"\n\r", ":   \n\n"},
		{"data: x\n\ndata: y", ": data: x  data: y\n\n"},
		{"é😀", ": é😀\n\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		n, err := WriteComment(&b, tt.text)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != tt.want {
			t.Errorf("WriteComment(%q) = %q, want %q", tt.text, got, tt.want)
		}
		if n != b.Len() {
			t.Errorf("WriteComment(%q) returned %d, wrote %d bytes", tt.text, n, b.Len())
		}
		// Whatever the text, a receiver sees no event.
		var d Decoder
		d.Feed(b.Bytes(), func(ev Event) { t.Errorf("WriteComment(%q) decoded as event %+q", tt.text, ev) })
		if d.LastEventID() != "" {
			t.Errorf("WriteComment(%q) set the last event id to %q", tt.text, d.LastEventID())
		}
	}
}

type countingWriter struct{ writes int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return len(p), nil
}

// failingWriter accepts n bytes of each write, then fails.
type failingWriter struct {
	n   int
	err error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		return len(p), nil
	}
	return w.n, w.err
}

// TestWriteEventBytes checks that the bytes form encodes exactly as
// WriteEvent does, for small and for large data.
func TestWriteEventBytes(t *testing.T) {
	big := strings.Repeat("x", 40<<10)
	for _, data := range []string{"", "a", "a\nb\r\nc\rd", big, big + "\r\n" + big + "\n", "\n" + big + "\r"} {
		var want, got bytes.Buffer
		WriteEvent(&want, Event{ID: "7", Name: "n", Data: data})
		n, err := WriteEventBytes(&got, "7", "n", []byte(data))
		if err != nil || n != got.Len() || got.String() != want.String() {
			t.Fatalf("data of %d bytes: %d bytes written, err %v, equal %v", len(data), n, err, got.String() == want.String())
		}
	}
}

// TestAppendEventAsWriteEvent checks that AppendEvent and AppendComment give
// the very bytes WriteEvent and WriteComment write, after what dst held.
func TestAppendEventAsWriteEvent(t *testing.T) {
	cases := []Event{
		{}, {Data: "x"}, {ID: "1", Name: "message", Data: "a\nb"}, {ID: "i\nj", Name: "n\r", Data: "\r\n\r\n"},
		{Data: "trailing\n"}, {Data: "\r"}, {ID: "mka-1-2", Data: `{"jsonrpc":"2.0"}`}, {Data: "a\r\nb\rc\nd"},
	}
	for _, ev := range cases {
		var want bytes.Buffer
		if _, err := WriteEvent(&want, ev); err != nil {
			t.Fatal(err)
		}
		got := AppendEvent([]byte("prefix"), ev.ID, ev.Name, []byte(ev.Data))
		if string(got) != "prefix"+want.String() {
			t.Errorf("AppendEvent(%v) = %q, want %q", ev, got, "prefix"+want.String())
		}
	}
	for _, text := range []string{"keepalive", "", "a\nb\rc"} {
		var want bytes.Buffer
		if _, err := WriteComment(&want, text); err != nil {
			t.Fatal(err)
		}
		if got := AppendComment(nil, text); string(got) != want.String() {
			t.Errorf("AppendComment(%q) = %q, want %q", text, got, want.String())
		}
	}
}
