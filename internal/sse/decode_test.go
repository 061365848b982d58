package sse

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// result is everything a Decoder reports after some input.
type result struct {
	Events   []Event
	LastID   string
	Retry    int
	SawRetry bool
	TooLarge bool
}

func (r result) String() string {
	return fmt.Sprintf("events %+q, last id %q, retry %d %t, too large %t", r.Events, r.LastID, r.Retry, r.SawRetry, r.TooLarge)
}

// decode feeds chunks to a new decoder with the given limit. A limit of 0 uses
// the zero Decoder, which must be ready to use.
func decode(maxEvent int, chunks ...[]byte) result {
	d := &Decoder{}
	if maxEvent != 0 {
		d = NewDecoder(maxEvent)
	}
	var r result
	for _, c := range chunks {
		d.Feed(c, func(ev Event) {
			if d.tooLarge() {
				panic("an event emitted after the limit was reached")
			}
			r.Events = append(r.Events, ev)
		})
	}
	r.LastID = d.LastEventID()
	r.Retry, r.SawRetry = d.Retry()
	r.TooLarge = d.tooLarge()
	return r
}

type decodeCase struct {
	name     string
	in       string
	max      int
	want     []Event
	lastID   string
	retry    int // with sawRetry
	sawRetry bool
	tooLarge bool
}

func (c decodeCase) result() result {
	return result{Events: c.want, LastID: c.lastID, Retry: c.retry, SawRetry: c.sawRetry, TooLarge: c.tooLarge}
}

var decodeCases = []decodeCase{
	// Lines and line breaks.
	{name: "one event", in: "data: x\n\n", want: []Event{{Data: "x"}}},
	{name: "no space after the colon", in: "data:x\n\n", want: []Event{{Data: "x"}}},
	{name: "only one space removed", in: "data:  x \n\n", want: []Event{{Data: " x "}}},
	{name: "tab is not removed", in: "data:\tx\n\n", want: []Event{{Data: "\tx"}}},
	{name: "two data lines joined with LF", in: "data: a\ndata: b\n\n", want: []Event{{Data: "a\nb"}}},
	{name: "CRLF", in: "data: a\r\ndata: b\r\n\r\n", want: []Event{{Data: "a\nb"}}},
	{name: "lone CR", in: "data: a\rdata: b\r\r", want: []Event{{Data: "a\nb"}}},
	{name: "mixed line breaks", in: "data: a\r\ndata: b\rdata: c\n\r\n", want: []Event{{Data: "a\nb\nc"}}},
	{name: "CR then CRLF is two lines", in: "data: a\r\r\ndata: b\n\n", want: []Event{{Data: "a"}, {Data: "b"}}},
	{name: "LF CR is two lines", in: "data: a\n\rdata: b\n\n", want: []Event{{Data: "a"}, {Data: "b"}}},
	{name: "CRLF LF is two lines", in: "data: a\r\n\ndata: b\n\n", want: []Event{{Data: "a"}, {Data: "b"}}},
	{name: "several events", in: "data: 1\n\ndata: 2\n\ndata: 3\n\n", want: []Event{{Data: "1"}, {Data: "2"}, {Data: "3"}}},
	{name: "blank lines between events", in: "\n\n\ndata: 1\n\n\n\r\n\rdata: 2\n\n", want: []Event{{Data: "1"}, {Data: "2"}}},
	{name: "colons in the value", in: "data: a: b:c\n\n", want: []Event{{Data: "a: b:c"}}},
	{name: "NUL and invalid UTF-8 kept", in: "data: a\x00b\xff\n\n", want: []Event{{Data: "a\x00b\xff"}}},
	{name: "unicode", in: "data: é😀\n\n", want: []Event{{Data: "é😀"}}},
	{name: "JSON-RPC", in: "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n", want: []Event{{Name: "message", Data: `{"jsonrpc":"2.0","id":1,"result":{}}`}}},

	// Incomplete input.
	{name: "no blank line: not dispatched", in: "data: x\n"},
	{name: "unterminated line: not dispatched", in: "data: x"},
	{name: "unterminated last event", in: "data: 1\n\ndata: 2\n", want: []Event{{Data: "1"}}},
	{name: "empty input", in: ""},

	// Comments and fields.
	{name: "comments ignored", in: ": hello\ndata: x\n: bye\n\n", want: []Event{{Data: "x"}}},
	{name: "comment only: nothing", in: ": hello\n\n"},
	{name: "bare colon is a comment", in: ":\ndata: x\n:\n\n", want: []Event{{Data: "x"}}},
	{name: "comment that looks like a field", in: ":data: x\n\n"},
	{name: "data with no colon is empty data", in: "data\n\n", want: []Event{{Data: ""}}},
	{name: "two data lines with no colon", in: "data\ndata\n\n", want: []Event{{Data: "\n"}}},
	{name: "empty data line dispatched with empty Data", in: "data:\n\n", want: []Event{{Data: ""}}},
	{name: "data with only a space is empty", in: "data: \n\n", want: []Event{{Data: ""}}},
	{name: "empty data lines around data", in: "data:\ndata: x\ndata:\n\n", want: []Event{{Data: "\nx\n"}}},
	{name: "priming event", in: "id: 0\ndata:\n\n", want: []Event{{ID: "0", Data: ""}}, lastID: "0"},
	{name: "unknown fields ignored", in: "foo: bar\ndata: x\nbaz\n\n", want: []Event{{Data: "x"}}},
	{name: "field names are case-sensitive", in: "Data: x\nDATA: y\nEvent: e\nID: 1\nRetry: 5\n\n"},
	{name: "leading space makes another field", in: " data: x\n\n"},
	{name: "field name up to the first colon", in: "data:x:y\n\n", want: []Event{{Data: "x:y"}}},

	// Event names.
	{name: "named event", in: "event: update\ndata: x\n\n", want: []Event{{Name: "update", Data: "x"}}},
	{name: "event without data not dispatched", in: "event: update\n\n"},
	{name: "name reset after an event without data", in: "event: update\n\ndata: x\n\n", want: []Event{{Data: "x"}}},
	{name: "name reset after dispatch", in: "event: a\ndata: 1\n\ndata: 2\n\n", want: []Event{{Name: "a", Data: "1"}, {Data: "2"}}},
	{name: "last name wins", in: "event: a\nevent: b\ndata: x\n\n", want: []Event{{Name: "b", Data: "x"}}},
	{name: "name after data", in: "data: x\nevent: late\n\n", want: []Event{{Name: "late", Data: "x"}}},
	{name: "event with no colon is the default name", in: "event: a\nevent\ndata: x\n\n", want: []Event{{Data: "x"}}},

	// Ids.
	{name: "id", in: "id: 1\ndata: x\n\n", want: []Event{{ID: "1", Data: "x"}}, lastID: "1"},
	{name: "id persists across events", in: "id: 1\ndata: a\n\ndata: b\n\nevent: e\ndata: c\n\n", want: []Event{{ID: "1", Data: "a"}, {ID: "1", Data: "b"}, {ID: "1", Name: "e", Data: "c"}}, lastID: "1"},
	{name: "id changes", in: "id: 1\ndata: a\n\nid: 2\ndata: b\n\n", want: []Event{{ID: "1", Data: "a"}, {ID: "2", Data: "b"}}, lastID: "2"},
	{name: "id after data in the same event", in: "data: a\nid: 9\n\n", want: []Event{{ID: "9", Data: "a"}}, lastID: "9"},
	{name: "id from an event without data", in: "id: 5\n\ndata: x\n\n", want: []Event{{ID: "5", Data: "x"}}, lastID: "5"},
	{name: "id with NUL ignored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", want: []Event{{ID: "1", Data: "a"}, {ID: "1", Data: "b"}}, lastID: "1"},
	{name: "id of only a NUL ignored", in: "id: 1\nid: \x00\ndata: b\n\n", want: []Event{{ID: "1", Data: "b"}}, lastID: "1"},
	{name: "empty id resets", in: "id: 1\ndata: a\n\nid\ndata: b\n\nid: 2\ndata: c\n\nid:\ndata: d\n\n", want: []Event{{ID: "1", Data: "a"}, {Data: "b"}, {ID: "2", Data: "c"}, {Data: "d"}}},
	{name: "id kept with spaces", in: "id:  a b \ndata: x\n\n", want: []Event{{ID: " a b ", Data: "x"}}, lastID: " a b "},
	{name: "id without an event", in: "id: 7\n", lastID: "7"},

	// Retry.
	{name: "retry", in: "retry: 3000\n", retry: 3000, sawRetry: true},
	{name: "retry zero", in: "retry: 0\n", retry: 0, sawRetry: true},
	{name: "retry no space", in: "retry:15\n", retry: 15, sawRetry: true},
	{name: "retry leading zeros", in: "retry: 007\n", retry: 7, sawRetry: true},
	{name: "retry with a letter ignored", in: "retry: 30x\n"},
	{name: "retry negative ignored", in: "retry: -1\n"},
	{name: "retry with a plus ignored", in: "retry: +5\n"},
	{name: "retry with a decimal point ignored", in: "retry: 1.5\n"},
	{name: "retry with two spaces ignored", in: "retry:  5\n"},
	{name: "retry with a trailing space ignored", in: "retry: 5 \n"},
	{name: "retry empty ignored", in: "retry:\nretry\n"},
	{name: "retry with non-ASCII digits ignored", in: "retry: ١٢\n"},
	{name: "retry overflowing ignored", in: "retry: 99999999999999999999999\n"},
	{name: "invalid retry keeps the last valid one", in: "retry: 10\nretry: x\nretry: 20\nretry: 2x\n", retry: 20, sawRetry: true},
	{name: "retry does not dispatch", in: "retry: 10\n\n", retry: 10, sawRetry: true},
	{name: "retry in an event", in: "data: x\nretry: 10\n\n", want: []Event{{Data: "x"}}, retry: 10, sawRetry: true},

	// Byte order mark.
	{name: "BOM dropped", in: "\xEF\xBB\xBFdata: x\n\n", want: []Event{{Data: "x"}}},
	{name: "BOM then CRLF", in: "\xEF\xBB\xBF\r\ndata: x\r\n\r\n", want: []Event{{Data: "x"}}},
	{name: "BOM before a field with no colon", in: "\xEF\xBB\xBFdata\n\n", want: []Event{{Data: ""}}},
	{name: "only a BOM", in: "\xEF\xBB\xBF"},
	{name: "second BOM kept as part of the name", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"},
	{name: "partial BOM kept", in: "\xEF\xBBdata: x\n\n"},
	{name: "partial BOM then BOM", in: "\xEF\xBB\xEF\xBB\xBFdata: x\n\n"},
	{name: "BOM later is data", in: "data: x\n\ndata: \xEF\xBB\xBFy\n\n", want: []Event{{Data: "x"}, {Data: "\xEF\xBB\xBFy"}}},
	{name: "BOM after a blank line is not dropped", in: "\n\xEF\xBB\xBFdata: x\n\n"},

	// Size limit.
	{name: "event at the limit", in: "data: 1234\n\n", max: 10, want: []Event{{Data: "1234"}}},
	{name: "event over the limit", in: "data: 12345\n\ndata: x\n\n", max: 10, tooLarge: true},
	{name: "lines of one event add up", in: "data: a\ndata: b\n\ndata: x\n\n", max: 10, tooLarge: true},
	{name: "limit is per event", in: "data: 1234\n\ndata: 5678\n\ndata: 9012\n\n", max: 10, want: []Event{{Data: "1234"}, {Data: "5678"}, {Data: "9012"}}},
	{name: "events before the large one", in: "id: 1\ndata: ok\n\ndata: 123456789\n\ndata: after\n\n", max: 13, want: []Event{{ID: "1", Data: "ok"}}, lastID: "1", tooLarge: true},
	{name: "line breaks are not counted", in: "data: 1234\r\n\r\n", max: 10, want: []Event{{Data: "1234"}}},
	{name: "comments count", in: ": a long comment\ndata: x\n\n", max: 10, tooLarge: true},
	{name: "unterminated line over the limit", in: "data: 0123456789abcdef", max: 10, tooLarge: true},
	{name: "line over the limit is not processed: id", in: "id: 123456789\ndata: x\n\n", max: 10, tooLarge: true},
	{name: "line over the limit is not processed: retry", in: "retry: 12345678\n", max: 10, tooLarge: true},
	{name: "event without data counts", in: "event: abcdefghijkl\n\n", max: 10, tooLarge: true},
	{name: "no limit", in: "data: " + strings.Repeat("x", 1<<16) + "\n\n", want: []Event{{Data: strings.Repeat("x", 1<<16)}}},
}

func TestDecoder(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := decode(tt.max, []byte(tt.in)), tt.result(); !reflect.DeepEqual(got, want) {
				t.Errorf("decoding %q in one chunk\n got %v\nwant %v", tt.in, got, want)
			}
		})
	}
}

// TestDecoderSplits feeds each case split at every byte position (between CR
// and LF, inside the byte order mark, inside field names), in three pieces at
// every pair of positions for short inputs, and byte by byte with empty chunks
// between, and expects the same result as in one chunk.
func TestDecoderSplits(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			in, want := []byte(tt.in), tt.result()
			if len(in) > 1<<10 {
				in = in[:1<<10] // the long case: enough to split, not to run for minutes
				want = decode(tt.max, in)
			}
			for i := 0; i <= len(in); i++ {
				if got := decode(tt.max, in[:i], in[i:]); !reflect.DeepEqual(got, want) {
					t.Fatalf("decoding %q split at %d\n got %v\nwant %v", in, i, got, want)
				}
			}
			if len(in) <= 64 {
				for i := 0; i <= len(in); i++ {
					for j := i; j <= len(in); j++ {
						if got := decode(tt.max, in[:i], in[i:j], in[j:]); !reflect.DeepEqual(got, want) {
							t.Fatalf("decoding %q split at %d and %d\n got %v\nwant %v", in, i, j, got, want)
						}
					}
				}
			}
			var bytewise [][]byte
			for i := range in {
				bytewise = append(bytewise, nil, in[i:i+1], []byte{})
			}
			if got := decode(tt.max, bytewise...); !reflect.DeepEqual(got, want) {
				t.Fatalf("decoding %q byte by byte\n got %v\nwant %v", in, got, want)
			}
		})
	}
}

// TestDecoderReusesInput checks that the decoder keeps no reference to the
// caller's chunks: a caller may overwrite its read buffer after Feed returns,
// even mid-BOM, mid-line or between CR and LF.
func TestDecoderReusesInput(t *testing.T) {
	in := "\xEF\xBB\xBFid: first\r\ndata: hello\r\nevent: greet\r\n\r\ndata: x\r"
	want := []Event{{ID: "first", Name: "greet", Data: "hello"}, {ID: "first", Data: "x"}}
	for size := 1; size <= 4; size++ {
		d := NewDecoder(0)
		buf := make([]byte, size)
		var got []Event
		emit := func(ev Event) { got = append(got, ev) }
		for i := 0; i < len(in); i += len(buf) {
			n := copy(buf, in[i:])
			d.Feed(buf[:n], emit)
			for j := range buf {
				buf[j] = '#'
			}
		}
		d.Feed([]byte("\n\r\n"), emit)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("with a %d-byte buffer: got %+q, want %+q", size, got, want)
		}
	}
}

// TestDecoderStopsAfterLimit checks that once the limit is reached, nothing
// more comes out, however much more is fed.
func TestDecoderStopsAfterLimit(t *testing.T) {
	d := NewDecoder(16)
	var got []Event
	emit := func(ev Event) { got = append(got, ev) }
	d.Feed([]byte("data: small\n\n"), emit)
	if d.tooLarge() || len(got) != 1 {
		t.Fatalf("after a small event: too large %t, events %+q", d.tooLarge(), got)
	}
	d.Feed([]byte("data: "+strings.Repeat("x", 100)), emit)
	if !d.tooLarge() {
		t.Fatal("TooLarge is false after 106 bytes of a line with a 16-byte limit")
	}
	for range 3 {
		d.Feed([]byte("\n\nid: 2\nretry: 5\ndata: more\n\n"), emit)
	}
	if len(got) != 1 {
		t.Errorf("events after the limit: %+q", got[1:])
	}
	if id := d.LastEventID(); id != "" {
		t.Errorf("LastEventID = %q after the limit", id)
	}
	if _, ok := d.Retry(); ok {
		t.Error("a retry was read after the limit")
	}
}

// TestRoundTrip checks that what WriteEvent writes, the Decoder reads back, with
// line breaks in Data normalised to LF, in one chunk or split anywhere.
func TestRoundTrip(t *testing.T) {
	events := []Event{
		{Data: "\xEF\xBB\xBFstarts with a byte order mark"},
		{Data: "hello"},
		{Data: ""},
		{ID: "1", Name: "message", Data: `{"jsonrpc":"2.0","id":1,"result":{}}`},
		{Data: "a\nb"},
		{Data: "a\r\nb\r\n"},
		{Data: "a\rb\r"},
		{Data: "\n"},
		{Data: "\r\n"},
		{Data: "\r"},
		{Data: "\n\n\r\r\r\n\r\n"},
		{ID: "2", Data: " leading space\n  two spaces"},
		{Name: "x", Data: ": not a comment\ndata: not a field\nid: not an id"},
		{ID: "three\nignored", Name: "cut\r\nhere", Data: "x"},
		{Data: "NUL \x00 and invalid \xff UTF-8 and é😀"},
		{Data: strings.Repeat("long line ", 1000)},
		{Data: strings.Repeat("\r\n", 50)},
		{ID: " spaced ", Name: " spaced ", Data: " spaced "},
	}
	var stream bytes.Buffer
	var want []Event
	lastID := ""
	for i, ev := range events {
		if _, err := WriteEvent(&stream, ev); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := WriteComment(&stream, "keep\r\nalive"); err != nil {
				t.Fatal(err)
			}
		}
		if ev.ID != "" {
			lastID = cut(ev.ID)
		}
		data := strings.ReplaceAll(ev.Data, "\r\n", "\n")
		data = strings.ReplaceAll(data, "\r", "\n")
		want = append(want, Event{ID: lastID, Name: cut(ev.Name), Data: data})
	}
	check := func(how string, got result) {
		t.Helper()
		if len(got.Events) != len(want) {
			t.Fatalf("%s: %d events, want %d: %v", how, len(got.Events), len(want), got)
		}
		for i := range want {
			if got.Events[i] != want[i] {
				t.Errorf("%s: event %d = %+q, want %+q", how, i, got.Events[i], want[i])
			}
		}
		if got.LastID != lastID || got.TooLarge {
			t.Errorf("%s: %v", how, got)
		}
	}
	in := stream.Bytes()
	check("one chunk", decode(0, in))
	check("with a byte order mark", decode(0, append([]byte("\xEF\xBB\xBF"), in...)))
	check("with a limit just large enough", decode(len(strings.Repeat("long line ", 1000))+len("data: "), in))
	for i := 0; i <= len(in); i += 7 {
		check("split at "+strconv.Itoa(i), decode(0, in[:i], in[i:]))
	}
	check("in 5-byte chunks", decode(0, chunks(in, 5)...))
}

// cut returns s up to its first line break.
func cut(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// chunks splits b into pieces of n bytes.
func chunks(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

// reference decodes a whole stream following the WHATWG algorithm step by
// step, independently of Decoder, without a size limit.
func reference(in []byte) result {
	var r result
	in = bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
	var data, name string
	for {
		i := bytes.IndexAny(in, "\r\n")
		if i < 0 {
			break // an unterminated line at the end is discarded
		}
		line := string(in[:i])
		if in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			i++
		}
		in = in[i+1:]
		switch {
		case line == "":
			// Dispatch.
			if data == "" {
				name = ""
				continue
			}
			r.Events = append(r.Events, Event{ID: r.LastID, Name: name, Data: strings.TrimSuffix(data, "\n")})
			data, name = "", ""
			continue
		case line[0] == ':':
			continue
		}
		field, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			name = value
		case "data":
			data += value + "\n"
		case "id":
			if !strings.Contains(value, "\x00") {
				r.LastID = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				if n, err := strconv.Atoi(value); err == nil {
					r.Retry, r.SawRetry = n, true
				}
			}
		}
	}
	return r
}

// TestReference checks the test's own reference decoder against the cases
// without a limit.
func TestReference(t *testing.T) {
	for _, tt := range decodeCases {
		if tt.max != 0 {
			continue
		}
		if got, want := reference([]byte(tt.in)), tt.result(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: reference decoding of %q\n got %v\nwant %v", tt.name, tt.in, got, want)
		}
	}
}

// randomChunks splits data into chunks of 0 to 8 bytes, at positions derived
// from the data itself so that a failure reproduces.
func randomChunks(data []byte) [][]byte {
	h := fnv.New64a()
	h.Write(data)
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(len(data))))
	var out [][]byte
	for len(data) > 0 {
		n := min(rng.IntN(9), len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// FuzzDecoder checks that the decoder never panics, that how the input is cut
// into chunks never changes what comes out, that without a limit it agrees with
// the reference decoder, and that a limit only ever cuts the output short.
func FuzzDecoder(f *testing.F) {
	seeds := []struct {
		in  string
		max uint8
	}{
		{"data: x\n\n", 0},
		{"\xEF\xBB\xBFdata: x\r\n\r\n", 0},
		{"\xEF\xBBdata: x\n\n", 0},
		{"id: 1\nevent: e\ndata: a\rdata: b\r\r", 0},
		{"data: a\r\r\ndata: b\n\n", 0},
		{": comment\ndata\n\nevent: e\n\ndata:\n\n", 0},
		{"id: a\x00b\ndata: x\n\nid\ndata: y\n\n", 0},
		{"retry: 10\nretry: 1x\nretry: -1\nretry: 99999999999999999999\n", 0},
		{"data: 1234\n\ndata: 12345\n\ndata: x\n\n", 10},
		{"id: 123456789\ndata: x\n\n", 10},
		{"retry: 12345678\n", 10},
		{"data: 0123456789abcdef", 10},
		{"event: abcdefghijkl\n\ndata: x\n\n", 10},
		{"\r\n\r\n\r\r\n\n", 1},
		{"data: é😀\xff\n\n", 0},
	}
	for _, s := range seeds {
		f.Add([]byte(s.in), s.max)
	}
	f.Fuzz(func(t *testing.T, data []byte, maxEvent uint8) {
		max := int(maxEvent)
		whole := decode(max, data)
		if split := decode(max, randomChunks(data)...); !reflect.DeepEqual(split, whole) {
			t.Fatalf("decoding %q with limit %d\nin one chunk:    %v\nin random chunks: %v", data, max, whole, split)
		}
		var bytewise [][]byte
		for i := range data {
			bytewise = append(bytewise, data[i:i+1])
		}
		if got := decode(max, bytewise...); !reflect.DeepEqual(got, whole) {
			t.Fatalf("decoding %q with limit %d\nin one chunk:  %v\nbyte by byte: %v", data, max, whole, got)
		}
		unlimited := decode(0, data)
		if unlimited.TooLarge {
			t.Fatal("TooLarge without a limit")
		}
		if ref := reference(data); !reflect.DeepEqual(unlimited, ref) {
			t.Fatalf("decoding %q\n got %v\nreference %v", data, unlimited, ref)
		}
		if max != 0 {
			if len(whole.Events) > len(unlimited.Events) || !slices.Equal(whole.Events, unlimited.Events[:len(whole.Events)]) {
				t.Fatalf("with limit %d, events %+q are not a prefix of %+q", max, whole.Events, unlimited.Events)
			}
			if !whole.TooLarge && !reflect.DeepEqual(whole, unlimited) {
				t.Fatalf("with limit %d and not too large\n got %v\nwant %v", max, whole, unlimited)
			}
		}
	})
}
