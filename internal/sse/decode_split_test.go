package sse

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// checkSplit checks that in split mode with size n the decoder gives the
// events it gives without, with the data of exactly those longer than n
// passed on in parts. A negative n counts as 0.
func checkSplit(t *testing.T, n, maxEvent int, chunks ...[]byte) {
	t.Helper()
	want := decode(maxEvent, bytes.Join(chunks, nil))
	var gotParted []bool
	d := NewDecoder(maxEvent)
	var parts []byte
	d.Split(n, func(p []byte) {
		if len(p) == 0 {
			t.Error("part called with no bytes")
		}
		parts = append(parts, p...)
	})
	var got result
	for _, c := range chunks {
		d.Feed(c, func(ev Event) {
			if ev.Parted && ev.Data != "" {
				t.Errorf("parted event %v has data", ev)
			}
			if !ev.Parted && len(parts) > 0 {
				t.Errorf("parts %q came before event %v, which is not parted", parts, ev)
			}
			gotParted = append(gotParted, ev.Parted)
			if ev.Parted {
				ev.Data, ev.Parted = string(parts), false
				parts = parts[:0]
			}
			got.Events = append(got.Events, ev)
		})
	}
	got.LastID = d.LastEventID()
	got.Retry, got.SawRetry = d.Retry()
	got.TooLarge = d.tooLarge()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoding %q in %d chunks, split at %d, limit %d\n got %v\nwant %v", bytes.Join(chunks, nil), len(chunks), n, maxEvent, got, want)
	}
	for i, ev := range want.Events {
		if wantParted := len(ev.Data) > max(n, 0); gotParted[i] != wantParted {
			t.Fatalf("decoding %q split at %d: event %d of %d data bytes parted %t, want %t", bytes.Join(chunks, nil), n, i, len(ev.Data), gotParted[i], wantParted)
		}
	}
}

func TestDecoderSplit(t *testing.T) {
	var all []byte
	for _, tt := range decodeCases {
		all = append(all, tt.in...)
		all = append(all, "\n\n"...)
	}
	inputs := []string{
		"data: 12345\n\n",
		"data: 123456\n\n",
		"data: 1234\ndata: 5\n\n",
		"data: 123\ndata: 45\ndata: 6\n\n",
		"data:\ndata:\ndata:\ndata:\ndata:\ndata:\n\n",
		"data:  123456\r\n\r\n",
		"data:123456\rdata\r\r",
		"event: e\nid: 7\ndata: 1234567890\nevent: f\n\n",
		"data: 1234567890\n: comment\ndata: 1\n\ndata: short\n\n",
		"data: 1234567890",
		"data\ndata\ndata\ndata\ndata\ndata\ndata\n\n",
		"data: \xEF\xBB\xBF0123456789\n\n",
		"\xEF\xBB\xBFdata: 0123456789\n\n",
		"data: x\n\ndata:\n\n",
		string(all),
	}
	for _, in := range inputs {
		for _, n := range []int{-1, 0, 1, 4, 5, 6, 7, 100} {
			b := []byte(in)
			checkSplit(t, n, 0, b)
			checkSplit(t, n, 0, randomChunks(b)...)
			var bytewise [][]byte
			for i := range b {
				bytewise = append(bytewise, b[i:i+1], nil)
			}
			checkSplit(t, n, 0, bytewise...)
			if len(b) <= 64 {
				for i := 0; i <= len(b); i++ {
					checkSplit(t, n, 0, b[:i], b[i:])
				}
			}
		}
	}
}

// TestDecoderSplitStreams checks that a data line is passed on as it arrives,
// before its end, and that the space after the colon is dropped even when it
// arrives alone.
func TestDecoderSplitStreams(t *testing.T) {
	var d Decoder
	var parts []string
	d.Split(4, func(p []byte) { parts = append(parts, string(p)) })
	var events []Event
	emit := func(ev Event) { events = append(events, ev) }
	for _, c := range []string{"id: 1\nevent: big\ndata: ab\nda", "ta:", " ", "cdef", "gh", "ij\r", "\ndata", ": k", "\r\n", "\n"} {
		d.Feed([]byte(c), emit)
	}
	want := []string{"ab", "\n", "cdef", "gh", "ij", "\n", "k"}
	if !reflect.DeepEqual(parts, want) {
		t.Errorf("parts %q, want %q", parts, want)
	}
	if wantEv := []Event{{ID: "1", Name: "big", Parted: true}}; !reflect.DeepEqual(events, wantEv) {
		t.Errorf("events %v, want %v", events, wantEv)
	}
}

// TestDecoderSplitLimit checks that the size limit still applies to parted
// events.
func TestDecoderSplitLimit(t *testing.T) {
	d := NewDecoder(100)
	total := 0
	d.Split(10, func(p []byte) { total += len(p) })
	var events []Event
	d.Feed([]byte("data: "+strings.Repeat("x", 50)+"\n\n"), func(ev Event) { events = append(events, ev) })
	for range 10 {
		d.Feed([]byte("data: "+strings.Repeat("y", 30)), func(ev Event) { events = append(events, ev) })
	}
	d.Feed([]byte("\n\ndata: z\n\n"), func(ev Event) { events = append(events, ev) })
	if !d.tooLarge() {
		t.Error("not too large")
	}
	if len(events) != 1 || !events[0].Parted {
		t.Errorf("events %v, want one parted event", events)
	}
	if total > 50+100 {
		t.Errorf("%d bytes passed on, more than the limit allows", total)
	}
}

// TestDecoderSplitMemory checks that a 50 MB single-line event arriving in
// 32 KiB chunks flows through in bounded memory, while it arrives.
func TestDecoderSplitMemory(t *testing.T) {
	const size, chunk = 50 << 20, 32 << 10
	buf := bytes.Repeat([]byte("0123456789abcdef"), chunk/16)
	d := NewDecoder(size + 100)
	total := 0
	d.Split(64<<10, func(p []byte) { total += len(p) })
	var events []Event
	emit := func(ev Event) { events = append(events, ev) }
	alloc := allocated(func() {
		d.Feed([]byte("id: 1\ndata: "), emit)
		for fed := 0; fed < size; fed += chunk {
			d.Feed(buf, emit)
			if total < fed-(64<<10) {
				t.Fatalf("after %d bytes fed, only %d passed on", fed+chunk, total)
			}
		}
		d.Feed([]byte("\n\n"), emit)
	})
	if total != size {
		t.Errorf("%d bytes passed on, want %d", total, size)
	}
	if want := []Event{{ID: "1", Parted: true}}; !reflect.DeepEqual(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
	t.Logf("decoding a %d-byte event allocated %d bytes", size, alloc)
	if alloc > 1<<20 {
		t.Errorf("decoding a %d-byte event allocated %d bytes", size, alloc)
	}
}

// randomStream returns an event stream made of pieces that exercise the
// decoder: data lines of all lengths, other fields, comments and every kind of
// line break.
func randomStream(rng *rand.Rand) []byte {
	pieces := []string{"data:", "data: ", "data", "event: e", "id: 1", "retry: 5", ": c", "\r", "\n", "\r\n", "\n\n", "x", "yy", " ", "0123456789", ":"}
	var b []byte
	for range rng.IntN(60) {
		b = append(b, pieces[rng.IntN(len(pieces))]...)
	}
	return b
}

func TestDecoderSplitRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		in := randomStream(rng)
		n := rng.IntN(20) - 1
		maxEvent := 0
		if i%3 == 0 {
			maxEvent = rng.IntN(100)
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkSplit(t, n, maxEvent, in)
			checkSplit(t, n, maxEvent, randomChunks(in)...)
		})
	}
}

// FuzzDecoderSplit checks that in split mode, however the input is cut, the
// decoder gives the events it gives without, the data of those longer than
// the split size passed on in parts.
func FuzzDecoderSplit(f *testing.F) {
	f.Add([]byte("data: 0123456789\n\n"), uint8(4), uint8(0))
	f.Add([]byte("data: 01234\ndata: 56789\n\ndata: x\n\n"), uint8(4), uint8(0))
	f.Add([]byte("data:  0123456789\rdata\r\r"), uint8(0), uint8(0))
	f.Add([]byte("\xEF\xBB\xBFdata: 0123456789\r\n\r\n"), uint8(5), uint8(10))
	f.Add([]byte("id: 1\nevent: e\ndata: 01234567890123456789\n\n"), uint8(5), uint8(20))
	f.Fuzz(func(t *testing.T, data []byte, n, maxEvent uint8) {
		checkSplit(t, int(n), int(maxEvent), data)
		checkSplit(t, int(n), int(maxEvent), randomChunks(data)...)
		var bytewise [][]byte
		for i := range data {
			bytewise = append(bytewise, data[i:i+1])
		}
		checkSplit(t, int(n), int(maxEvent), bytewise...)
	})
}
