package legacy

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// splitAll feeds chunks to a splitter and returns its segments and the rest.
func splitAll(chunks ...[]byte) (segs [][]byte, rest []byte) {
	var s splitter
	for _, c := range chunks {
		s.push(c)
		for {
			seg, ok := s.next()
			if !ok {
				break
			}
			segs = append(segs, bytes.Clone(seg))
		}
	}
	return segs, bytes.Clone(s.rest())
}

func TestSplitterSegments(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		segs []string
		rest string
	}{
		{"events", "event: endpoint\ndata: /m\n\ndata: x\n\n", []string{"event: endpoint\ndata: /m\n\n", "data: x\n\n"}, ""},
		{"comment outside an event", ": ping\n\ndata: x\n", []string{": ping\n", "\n"}, "data: x\n"},
		{"comment inside an event", "data: a\n: c\ndata: b\n\n", []string{"data: a\n: c\ndata: b\n\n"}, ""},
		{"crlf", "data: a\r\n\r\n: c\r\n", []string{"data: a\r\n\r\n", ": c\r\n"}, ""},
		{"cr", "data: a\r\r: c\r", []string{"data: a\r\r", ": c\r"}, ""},
		{"byte order mark", "\xEF\xBB\xBF: c\ndata: a\n\n", []string{"\xEF\xBB\xBF: c\n", "data: a\n\n"}, ""},
		{"incomplete line", "data: a\n\nda", []string{"data: a\n\n"}, "da"},
		{"fields without data", "id: 1\nretry: 5\n\n", []string{"id: 1\nretry: 5\n\n"}, ""},
		{"empty", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			segs, rest := splitAll([]byte(tc.in))
			var got []string
			for _, s := range segs {
				got = append(got, string(s))
			}
			if !reflect.DeepEqual(got, tc.segs) || string(rest) != tc.rest {
				t.Fatalf("got %q rest %q, want %q rest %q", got, rest, tc.segs, tc.rest)
			}
		})
	}
}

// streams are event streams for the properties below, in every line ending.
var streams = []string{
	"event: endpoint\ndata: /m?sessionId=1\n\nevent: message\ndata: {\"a\":1}\n\n: ping\n\ndata: x\ndata: y\n\n",
	"event: message\r\ndata: {\"a\":1}\r\n\r\n: c\r\n\r\nid: 3\r\ndata: z\r\n\r\n",
	"data: a\r\rdata: b\r: inside\rdata: c\r\r: out\r\r",
	"\xEF\xBB\xBFdata: bom\n\nretry: 10\n\ndata:\n\ndata: last",
	"data: mixed\r\n\rdata: endings\n\r\n",
}

// TestSplitterInjectionSafe checks the splitter's promise, for every way of
// cutting the input into two chunks and byte by byte: the segments and the
// rest are the input, and an event written between any two segments is
// received as itself, with every upstream event received unchanged.
func TestSplitterInjectionSafe(t *testing.T) {
	for _, in := range streams {
		b := []byte(in)
		checkInjection(t, b, [][]byte{b})
		for i := range b {
			checkInjection(t, b, [][]byte{b[:i], b[i:]})
		}
		var bytewise [][]byte
		for i := range b {
			bytewise = append(bytewise, b[i:i+1])
		}
		checkInjection(t, b, bytewise)
	}
}

// FuzzSplitter checks the same promise on any input cut anywhere.
func FuzzSplitter(f *testing.F) {
	for _, in := range streams {
		f.Add([]byte(in), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		chunks := [][]byte{in}
		if n := int(cut); n > 0 && n < len(in) {
			chunks = [][]byte{in[:n], in[n:]}
		}
		checkInjection(t, in, chunks)
	})
}

// injected is the event written between segments.
const injected = "event: message\ndata: injected\n\n"

// checkInjection splits chunks and checks the promise for in.
func checkInjection(t *testing.T, in []byte, chunks [][]byte) {
	t.Helper()
	segs, rest := splitAll(chunks...)
	if got := append(bytes.Join(segs, nil), rest...); !bytes.Equal(got, in) {
		t.Fatalf("segments %q and rest %q are not the input %q", segs, rest, in)
	}
	var mixed []byte
	for _, s := range segs {
		mixed = append(mixed, s...)
		mixed = append(mixed, injected...)
	}
	mixed = append(mixed, rest...)
	var got, want []sse.Event
	for _, ev := range decodeAll(mixed) {
		if ev.Data != "injected" {
			ev.ID = "" // the injected events carry the stream's last id
			got = append(got, ev)
		} else if ev.Name != "message" {
			t.Fatalf("the injected event was received as %+v", ev)
		}
	}
	for _, ev := range decodeAll(in) {
		ev.ID = ""
		want = append(want, ev)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with injections, %q decodes to %+v, want %+v", mixed, got, want)
	}
	if n := bytes.Count(mixed, []byte(injected)); n < len(segs) {
		t.Fatalf("%d injections survive, want %d", n, len(segs))
	}
}

// decodeAll decodes an event stream.
func decodeAll(b []byte) []sse.Event {
	var evs []sse.Event
	var d sse.Decoder
	d.Feed(b, func(ev sse.Event) { evs = append(evs, ev) })
	return evs
}

func TestSplitterLetsGoOfLargeBuffers(t *testing.T) {
	var s splitter
	s.push([]byte("data: " + string(bytes.Repeat([]byte("x"), 4*keepBuffer)) + "\n\n"))
	if _, ok := s.next(); !ok {
		t.Fatal("no segment")
	}
	s.push([]byte("data: small\n\n"))
	if seg, ok := s.next(); !ok || string(seg) != "data: small\n\n" || cap(s.buf) > keepBuffer {
		t.Fatalf("segment %q, buffer capacity %d", seg, cap(s.buf))
	}
}
