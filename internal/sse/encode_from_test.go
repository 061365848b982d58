package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// readers returns data behind readers that cut it differently: whole, one byte
// at a time, in halves, through bufio readers of a few sizes, and in chunks of
// 32 KiB and one byte either side, so that line breaks land on read edges.
func readers(data []byte) map[string]io.Reader {
	rs := map[string]io.Reader{
		"whole":    bytes.NewReader(data),
		"one byte": iotest.OneByteReader(bytes.NewReader(data)),
		"halves":   iotest.HalfReader(bytes.NewReader(data)),
		"data err": iotest.DataErrReader(bytes.NewReader(data)),
	}
	for _, size := range []int{16, 17, 4096} {
		rs["bufio "+strconv.Itoa(size)] = bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(data)), size)
	}
	for _, size := range []int{inlineLimit - 1, inlineLimit, inlineLimit + 1, 3} {
		rs["chunks of "+strconv.Itoa(size)] = &chunkReader{data: data, n: size}
	}
	return rs
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// checkWriteEventFrom checks that WriteEventFrom writes what WriteEventBytes
// writes, whatever the reader.
func checkWriteEventFrom(t *testing.T, id, name string, data []byte) {
	t.Helper()
	var want bytes.Buffer
	wn, err := WriteEventBytes(&want, id, name, data)
	if err != nil {
		t.Fatal(err)
	}
	for how, r := range readers(data) {
		var got bytes.Buffer
		n, err := WriteEventFrom(&got, id, name, r)
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%s: data %q (%d bytes)\n got %q\nwant %q", how, short(data), len(data), short(got.Bytes()), short(want.Bytes()))
		}
		if n != int64(wn) || n != int64(got.Len()) {
			t.Fatalf("%s: returned %d, wrote %d, WriteEventBytes returned %d", how, n, got.Len(), wn)
		}
	}
}

// short cuts b for a failure message.
func short(b []byte) []byte {
	if len(b) > 200 {
		return append(b[:100:100], append([]byte("..."), b[len(b)-100:]...)...)
	}
	return b
}

func TestWriteEventFrom(t *testing.T) {
	big := strings.Repeat("x", inlineLimit)
	tests := []string{
		"", "a", "\n", "\r", "\r\n", "\n\r", "\r\r", "\n\n", "a\n", "a\r", "a\r\n", "\na", "\ra", "\r\na",
		"a\nb\r\nc\rd", "a\r\rb", "a\n\rb", "a\r\n\r\nb", " leading space", "id: 5\nevent: x",
		big[:inlineLimit-1], big, big + "y", big + "\n", big + "\r", big + "\r\n",
		big[:inlineLimit-1] + "\r", big[:inlineLimit-1] + "\r\n", big[:inlineLimit-1] + "\r\nz",
		big + "\r\n" + big + "\n", "\n" + big + "\r", big + big + big + "\r",
		big[:inlineLimit-1] + "\r\n" + big[:inlineLimit-2] + "\r\n\r\n",
		strings.Repeat("\r\n", inlineLimit), strings.Repeat("\r", inlineLimit+1),
	}
	for _, data := range tests {
		for _, head := range [][2]string{{"", ""}, {"7", "message"}, {"a\r\nb", "c\rd"}} {
			checkWriteEventFrom(t, head[0], head[1], []byte(data))
		}
	}
}

// TestWriteEventFromRandom checks random data made of few distinct bytes, so
// that CR, LF and CRLF fall everywhere, including on the edges of reads.
func TestWriteEventFromRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\r\n")
	for i := range 200 {
		n := rng.IntN(100)
		if i%20 == 0 {
			n = inlineLimit - 2 + rng.IntN(2*inlineLimit)
		}
		data := make([]byte, n)
		for i := range data {
			data[i] = alphabet[rng.IntN(len(alphabet))]
		}
		checkWriteEventFrom(t, "1", "", data)
	}
}

// TestWriteEventFromSmallOneWrite checks that data that fits in one chunk
// goes out in a single Write, as from WriteEventBytes.
func TestWriteEventFromSmallOneWrite(t *testing.T) {
	var w countingWriter
	if _, err := WriteEventFrom(&w, "1", "n", iotest.OneByteReader(strings.NewReader(strings.Repeat("line\n", 100)))); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 {
		t.Errorf("WriteEventFrom made %d writes, want 1", w.writes)
	}
}

// TestWriteEventFromMemory checks that a large event is written without
// holding its data: the allocations stay near one chunk.
func TestWriteEventFromMemory(t *testing.T) {
	const size = 50 << 20
	line := []byte(strings.Repeat("y", 1000) + "\r\n")
	r := io.LimitReader(&repeatReader{b: line}, size)
	var w countingWriter
	var n int64
	var err error
	alloc := allocated(func() { n, err = WriteEventFrom(&w, "1", "message", r) })
	if err != nil {
		t.Fatal(err)
	}
	if n < size {
		t.Fatalf("wrote %d bytes, want more than %d", n, size)
	}
	t.Logf("writing %d bytes allocated %d bytes", size, alloc)
	if alloc > 256<<10 {
		t.Errorf("writing %d bytes of data allocated %d bytes", size, alloc)
	}
}

// allocated returns the bytes allocated while f runs. Other goroutines count
// too, so tests that use it do not run in parallel.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// repeatReader reads b over and over.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

// TestWriteEventFromErrors checks that a read error and a write error are
// both reported, the read error wrapped.
func TestWriteEventFromErrors(t *testing.T) {
	boom := errors.New("boom")
	for _, size := range []int{0, 10, 3 * inlineLimit} {
		r := io.MultiReader(strings.NewReader(strings.Repeat("x", size)), iotest.ErrReader(boom))
		var b bytes.Buffer
		n, err := WriteEventFrom(&b, "", "", r)
		if !errors.Is(err, boom) || n != int64(b.Len()) {
			t.Errorf("after %d bytes, a failing reader: %d, %v; wrote %d", size, n, err, b.Len())
		}
	}
	for _, size := range []int{10, 3 * inlineLimit} {
		w := &failingWriter{n: 3, err: boom}
		n, err := WriteEventFrom(w, "1", "", strings.NewReader(strings.Repeat("x\n", size)))
		if !errors.Is(err, boom) || n != 3 {
			t.Errorf("data of %d bytes to a failing writer: %d, %v; want 3, %v", 2*size, n, err, boom)
		}
	}
}

// FuzzWriteEventFrom checks that WriteEventFrom writes exactly what
// WriteEventBytes writes. The data may be repeated to go past one chunk.
func FuzzWriteEventFrom(f *testing.F) {
	for _, s := range []string{"", "a", "a\r\nb", "\r", "\r\n\r", "x\ry\nz\r\n"} {
		f.Add("1", "n", []byte(s), uint16(0))
		f.Add("", "", []byte(s), uint16(inlineLimit/len(s+"x")))
	}
	f.Fuzz(func(t *testing.T, id, name string, data []byte, repeat uint16) {
		if len(data) > 0 && repeat > 0 {
			data = bytes.Repeat(data, min(int(repeat), (inlineLimit+4096)/len(data)+1))
		}
		checkWriteEventFrom(t, id, name, data)
	})
}
