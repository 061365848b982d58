package streams

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// spillFiles returns the spill files in dir.
func spillFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, spillPattern))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// payload returns n bytes that tell events (and places in them) apart.
func payload(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i/251)
	}
	return b
}

// readAll returns the data of ev through Open.
func readAll(t *testing.T, s *Stream, ev Event) []byte {
	t.Helper()
	r, err := s.Open(ev)
	if err != nil {
		t.Fatalf("open event %d: %v", ev.Seq, err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read event %d: %v", ev.Seq, err)
	}
	return data
}

// TestSpillAfter checks that a stream keeps SpillAfter bytes in memory and
// the rest in its spill file, that readers get every event byte for byte,
// and that the file goes with the stream.
func TestSpillAfter(t *testing.T) {
	dir := t.TempDir()
	st := New()
	s := st.Create(owner("s", ""), "a", Limits{Memory: 1 << 20, SpillDir: dir, SpillAfter: 1000, SpillLimit: 1 << 20}, nil)
	var want [][]byte
	for i := 0; i < 10; i++ {
		want = append(want, payload(i, 300))
		appendOK(t, s, "", want[i], false)
	}
	want = append(want, payload(10, 5000)) // larger than SpillAfter alone
	appendOK(t, s, "big", want[10], true)
	_, _, memory, spilled := st.Stats()
	if memory > 1000+3*32 || spilled != 7*300+5000 {
		t.Fatalf("memory %d, spilled %d: three events fit under SpillAfter, the rest go to disk", memory, spilled)
	}
	if files := spillFiles(t, dir); len(files) != 1 {
		t.Fatalf("spill files %v", files)
	}
	b := s.Read(0, 0)
	if len(b.Events) != len(want) || b.Gap {
		t.Fatalf("read %d events, gap %v", len(b.Events), b.Gap)
	}
	for i, ev := range b.Events {
		if ev.Size != int64(len(want[i])) || (ev.Data == nil) != (i >= 3) {
			t.Fatalf("event %d: size %d, data in memory %v", i, ev.Size, ev.Data != nil)
		}
		if got := readAll(t, s, ev); !bytes.Equal(got, want[i]) {
			t.Fatalf("event %d differs from what was appended", i)
		}
	}
	if b.Events[10].Name != "big" {
		t.Fatalf("name %q", b.Events[10].Name)
	}
	s.Finish(0)
	if files := spillFiles(t, dir); len(files) != 0 {
		t.Fatalf("spill files left: %v", files)
	}
	if _, err := s.Open(b.Events[5]); err == nil {
		t.Fatal("opened a spilled event of a removed stream")
	}
	if n, r, memory, spilled := st.Stats(); n != 0 || r != 0 || memory != 0 || spilled != 0 {
		t.Fatalf("after the end: %d streams, %d running, %d in memory, %d spilled", n, r, memory, spilled)
	}
}

// TestSpillLargeEvent checks that an event streamed in through Begin never
// sits in memory whole: 50 MB in 32 KiB pieces, read back identical.
func TestSpillLargeEvent(t *testing.T) {
	const size, piece = 50 << 20, 32 << 10
	dir := t.TempDir()
	st := New()
	s := st.Create(owner("s", ""), "a", Limits{Memory: 1 << 20, SpillDir: dir, SpillAfter: 64 << 10, SpillLimit: 100 << 20}, nil)
	buf := make([]byte, piece)
	sum := sha256.New()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := s.Begin()
	for i := 0; i < size/piece; i++ {
		for j := range buf {
			buf[j] = byte(i + j)
		}
		sum.Write(buf)
		if n, err := w.Write(buf); n != piece || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	seq, err := w.Commit("", true)
	if err != nil || seq != 1 {
		t.Fatalf("commit: %d, %v", seq, err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Fatalf("writing 50 MB allocated %d bytes", grew)
	}
	if after.HeapAlloc > before.HeapAlloc+4<<20 {
		t.Fatalf("heap grew from %d to %d", before.HeapAlloc, after.HeapAlloc)
	}
	if _, _, memory, spilled := st.Stats(); memory != 0 || spilled != size {
		t.Fatalf("memory %d, spilled %d", memory, spilled)
	}

	b := s.Read(0, 0)
	if len(b.Events) != 1 || b.Events[0].Size != size || b.Events[0].Data != nil {
		t.Fatalf("read %+v", b.Events)
	}
	r, err := s.Open(b.Events[0])
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	if n, err := io.Copy(got, r); n != size || err != nil {
		t.Fatalf("read back %d bytes: %v", n, err)
	}
	if !bytes.Equal(got.Sum(nil), sum.Sum(nil)) {
		t.Fatal("the event read back differs from what was written")
	}
	s.Finish(0)
}

// TestSpillRemoved checks that a stream's spill file goes when the stream
// expires, is cancelled or is evicted, and that reading it then fails.
func TestSpillRemoved(t *testing.T) {
	dir := t.TempDir()
	st := New()
	lim := Limits{Memory: 1 << 20, SpillDir: dir, SpillAfter: 0, SpillLimit: 1 << 20}
	// spilled adds a spilled event, the response unless running: a
	// cancel comes too late once the response is in.
	spilled := func(s *Stream, running ...bool) Event {
		t.Helper()
		seq := appendOK(t, s, "", payload(1, 100), len(running) == 0)
		b := s.Read(seq-1, 0)
		if len(b.Events) != 1 || b.Events[0].Data != nil {
			t.Fatalf("event not spilled: %+v", b.Events)
		}
		return b.Events[0]
	}

	expiring := st.Create(owner("s", ""), "ttl", lim, nil)
	ev := spilled(expiring)
	r, err := expiring.Open(ev)
	if err != nil {
		t.Fatal(err)
	}
	expiring.Finish(10 * time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); st.Get(expiring.ID) != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the stream outlived its time to live")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if files := spillFiles(t, dir); len(files) != 0 {
		t.Fatalf("expiry left %v", files)
	}
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("read a spilled event opened before its stream expired")
	}

	cancelled := st.Create(owner("s", ""), "cancel", lim, func() {})
	spilled(cancelled, true)
	if !cancelled.Cancel() {
		t.Fatal("a running stream's cancel did not take effect")
	}
	if files := spillFiles(t, dir); len(files) != 0 {
		t.Fatalf("cancel left %v", files)
	}

	evicted := st.Create(owner("s", ""), "evicted", lim, nil)
	spilled(evicted)
	evicted.Finish(time.Hour)
	tight := st.Create(owner("s", ""), "tight", Limits{Memory: 10}, nil)
	appendOK(t, tight, "", payload(2, 100), false)
	if st.Get(evicted.ID) != nil {
		t.Fatal("the finished stream was not evicted")
	}
	if files := spillFiles(t, dir); len(files) != 0 {
		t.Fatalf("eviction left %v", files)
	}
	tight.Finish(0)
	if _, _, memory, spilled := st.Stats(); memory != 0 || spilled != 0 {
		t.Fatalf("memory %d, spilled %d", memory, spilled)
	}
}

// TestSpillLimit checks that the spill files stay under SpillLimit: the
// oldest finished streams that spilled go first, and a write there is no
// room for fails with ErrSpillFull and changes nothing.
func TestSpillLimit(t *testing.T) {
	dir := t.TempDir()
	st := New()
	lim := Limits{Memory: 1 << 20, SpillDir: dir, SpillAfter: 0, SpillLimit: 1000}
	inMemory := st.Create(owner("s", ""), "mem", Limits{Memory: 1 << 20}, nil)
	appendOK(t, inMemory, "", payload(0, 100), true)
	inMemory.Finish(time.Hour)
	old := st.Create(owner("s", ""), "old", lim, nil)
	appendOK(t, old, "", payload(1, 600), true)
	old.Finish(time.Hour)

	s := st.Create(owner("s", ""), "s", lim, nil)
	appendOK(t, s, "", payload(2, 300), false)
	if st.Get(old.ID) == nil {
		t.Fatal("evicted with room left")
	}
	appendOK(t, s, "", payload(3, 300), false)
	if st.Get(old.ID) != nil || st.Get(inMemory.ID) == nil {
		t.Fatal("the finished stream with spill bytes should have gone, and only it")
	}
	if _, _, _, spilled := st.Stats(); spilled != 600 {
		t.Fatalf("spilled %d", spilled)
	}

	if seq, err := s.Append("", payload(4, 500), false); !errors.Is(err, ErrSpillFull) || seq != 0 {
		t.Fatalf("over the limit: %d, %v", seq, err)
	}
	w := s.Begin()
	if _, err := w.Write(payload(5, 300)); err != nil {
		t.Fatalf("write within the limit: %v", err)
	}
	if n, err := w.Write(payload(6, 300)); !errors.Is(err, ErrSpillFull) || n != 0 {
		t.Fatalf("write over the limit: %d, %v", n, err)
	}
	w.Discard()
	if _, _, _, spilled := st.Stats(); spilled != 600 {
		t.Fatalf("a discarded event kept %d bytes", spilled-600)
	}
	if b := s.Read(0, 0); len(b.Events) != 2 || st.Get(inMemory.ID) == nil {
		t.Fatalf("a failed write changed the stream or the store: %+v", b)
	}
	if seq := appendOK(t, s, "", payload(7, 400), true); seq != 3 {
		t.Fatalf("the next event has seq %d", seq)
	}
	b := s.Read(2, 0)
	if len(b.Events) != 1 || !bytes.Equal(readAll(t, s, b.Events[0]), payload(7, 400)) {
		t.Fatal("the event after a discarded one reads wrong")
	}
	s.Finish(0)
	st.remove(inMemory)
}

// TestGap checks that a reader behind dropped events is told so rather than
// given what follows the hole, and that spilling is preferred to dropping.
func TestGap(t *testing.T) {
	dir := t.TempDir()
	st := New()
	// Spilling off: the oldest events go.
	s := st.Create(owner("s", ""), "off", Limits{Memory: 1000}, nil)
	for i := 0; i < 5; i++ {
		appendOK(t, s, "", payload(i, 300), false)
	}
	s.Progress([]byte("p"))
	b := s.Read(0, 0)
	if !b.Gap || len(b.Events) != 0 || len(b.KeepAlives) != 0 {
		t.Fatalf("from the start: %+v", b)
	}
	dropped := s.dropped
	if dropped == 0 {
		t.Fatal("nothing dropped")
	}
	if b := s.Read(dropped-1, 0); !b.Gap {
		t.Fatal("a reader that missed the last dropped event was not told")
	}
	b = s.Read(dropped, 0)
	if b.Gap || len(b.Events) == 0 || b.Events[0].Seq != dropped+1 {
		t.Fatalf("after the dropped events: %+v", b)
	}
	s.Finish(0)

	// Another running stream fills memory: this one spills rather than drop.
	hog := st.Create(owner("s", ""), "hog", Limits{Memory: 1 << 20}, nil)
	appendOK(t, hog, "", payload(0, 900), false)
	lim := Limits{Memory: 1000, SpillDir: dir, SpillAfter: 1000, SpillLimit: 1000}
	p := st.Create(owner("s", ""), "prefer", lim, nil)
	for i := 0; i < 3; i++ {
		appendOK(t, p, "", payload(i, 300), false)
	}
	b = p.Read(0, 0)
	if b.Gap || len(b.Events) != 3 {
		t.Fatalf("spilling should have kept every event: %+v", b)
	}
	for i, ev := range b.Events {
		if ev.Data != nil || !bytes.Equal(readAll(t, p, ev), payload(i, 300)) {
			t.Fatalf("event %d", i)
		}
	}
	// With the spill files full, it drops instead, and says so.
	for i := 3; i < 6; i++ {
		appendOK(t, p, "", payload(i, 100), i == 5)
	}
	b = p.Read(0, 0)
	if !b.Gap {
		t.Fatalf("no gap after dropping: %+v", b)
	}
	b = p.Read(p.dropped, 0)
	if b.Gap || len(b.Events) == 0 || b.Events[len(b.Events)-1].Seq != 6 {
		t.Fatalf("the response must stay: %+v", b)
	}
	p.Finish(0)
	hog.Finish(0)
	if _, _, memory, spilled := st.Stats(); memory != 0 || spilled != 0 {
		t.Fatalf("memory %d, spilled %d", memory, spilled)
	}
}

// TestSpillError checks that a spill file that cannot be written fails the
// write with the cause, and leaves the stream and the store as they were.
func TestSpillError(t *testing.T) {
	st := New()
	missing := filepath.Join(t.TempDir(), "missing")
	s := st.Create(owner("s", ""), "e", Limits{Memory: 1 << 20, SpillDir: missing, SpillAfter: 10, SpillLimit: 1 << 20}, nil)
	if seq, err := s.Append("", payload(1, 100), false); err == nil || errors.Is(err, ErrSpillFull) || seq != 0 {
		t.Fatalf("append to a missing directory: %d, %v", seq, err)
	}
	w := s.Begin()
	if _, err := w.Write(payload(2, 100)); err == nil {
		t.Fatal("write to a missing directory")
	}
	w.Discard()
	if _, _, memory, spilled := st.Stats(); memory != 0 || spilled != 0 {
		t.Fatalf("memory %d, spilled %d", memory, spilled)
	}
	if seq := appendOK(t, s, "", []byte("small"), true); seq != 1 {
		t.Fatalf("the next event has seq %d", seq)
	}
	s.Finish(0)
}

// TestEventWriter checks the writer's edges: Append waits for it, Cancel
// turns it into a no-op, and a small event stays in memory.
func TestEventWriter(t *testing.T) {
	dir := t.TempDir()
	st := New()
	lim := Limits{Memory: 1 << 20, SpillDir: dir, SpillAfter: 1000, SpillLimit: 1 << 20}
	s := st.Create(owner("s", ""), "w", lim, func() {})
	w := s.Begin()
	if _, err := s.Append("", []byte("x"), false); err == nil {
		t.Fatal("appended while an event was being written")
	}
	io.WriteString(w, "small ")
	io.WriteString(w, "event")
	if seq, err := w.Commit("n", false); seq != 1 || err != nil {
		t.Fatalf("commit: %d, %v", seq, err)
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Fatal("wrote after commit")
	}
	if b := s.Read(0, 0); len(b.Events) != 1 || string(b.Events[0].Data) != "small event" || b.Events[0].Name != "n" {
		t.Fatalf("small event: %+v", b.Events)
	}
	if len(spillFiles(t, dir)) != 0 {
		t.Fatal("a small event made a spill file")
	}

	w = s.Begin()
	if _, err := w.Write(payload(1, 2000)); err != nil {
		t.Fatal(err)
	}
	s.Cancel()
	if n, err := w.Write(payload(2, 10)); n != 10 || err != nil {
		t.Fatalf("write after cancel: %d, %v", n, err)
	}
	if seq, err := w.Commit("", true); seq != 0 || err != nil {
		t.Fatalf("commit after cancel: %d, %v", seq, err)
	}
	if seq, err := s.Append("", []byte("x"), true); seq != 0 || err != nil {
		t.Fatalf("append after cancel: %d, %v", seq, err)
	}
	if len(spillFiles(t, dir)) != 0 {
		t.Fatal("cancel left a spill file")
	}
	if _, _, memory, spilled := st.Stats(); memory != 0 || spilled != 0 {
		t.Fatalf("memory %d, spilled %d", memory, spilled)
	}
}

// TestConcurrentReaders runs readers against a producer whose events go to
// memory and to the spill file, for the race detector, and checks that each
// reader gets every event in order, byte for byte.
func TestConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	st := New()
	s := st.Create(owner("s", ""), "c", Limits{Memory: 1 << 20, SpillDir: dir, SpillAfter: 4096, SpillLimit: 16 << 20}, nil)
	const events = 200
	size := func(seq int) int { return 1 + seq*37%900 }

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			var cursor, ver uint64
			for {
				b := s.Read(cursor, ver)
				ver = b.KeepAliveVer
				if b.Gap {
					errs <- fmt.Errorf("gap after %d", cursor)
					return
				}
				for _, ev := range b.Events {
					if ev.Seq != cursor+1 {
						errs <- fmt.Errorf("event %d after %d", ev.Seq, cursor)
						return
					}
					r, err := s.Open(ev)
					if err != nil {
						errs <- err
						return
					}
					got, err := io.ReadAll(r)
					if err != nil || !bytes.Equal(got, payload(int(ev.Seq), size(int(ev.Seq)))) {
						errs <- fmt.Errorf("event %d reads wrong: %v", ev.Seq, err)
						return
					}
					cursor = ev.Seq
				}
				if b.Done {
					if cursor != events {
						errs <- fmt.Errorf("done after %d events", cursor)
					}
					return
				}
				<-b.Changed
			}
		})
	}
	for seq := 1; seq <= events; seq++ {
		data := payload(seq, size(seq))
		if seq%10 == 0 {
			w := s.Begin()
			for len(data) > 0 {
				n := min(len(data), 100)
				if _, err := w.Write(data[:n]); err != nil {
					t.Fatal(err)
				}
				data = data[n:]
			}
			if _, err := w.Commit("", seq == events); err != nil {
				t.Fatal(err)
			}
			continue
		}
		appendOK(t, s, "", data, seq == events)
	}
	s.Finish(time.Hour)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, _, _, spilled := st.Stats(); spilled == 0 {
		t.Error("nothing was spilled")
	}
	st.remove(s)
}
