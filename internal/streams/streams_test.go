package streams

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestEventIDs checks that ids round-trip and that foreign ids are refused.
func TestEventIDs(t *testing.T) {
	id := newStreamID()
	if len(id) != streamIDLen || id == newStreamID() {
		t.Fatalf("stream id %q", id)
	}
	s, seq, ok := ParseEventID(EventID(id, 42))
	if !ok || s != id || seq != 42 {
		t.Fatalf("round trip: %q %d %v", s, seq, ok)
	}
	for _, bad := range []string{"", "42", "mka-", "mka-" + id, "mka-" + id + "-", "mka-" + id + "-x",
		"mka-" + strings.ToUpper(id) + "-1", "mka-" + id[:31] + "g-1", "up-" + id + "-1", "mka-" + id + "-1-2"} {
		if _, _, ok := ParseEventID(bad); ok {
			t.Errorf("%q parsed as ours", bad)
		}
	}
}

// owner returns an owner for a session and credentials.
func owner(session, auth string) Owner {
	h := http.Header{}
	h.Set("Mcp-Session-Id", session)
	h.Set("Authorization", auth)
	return OwnerOf(h)
}

// TestOwner checks that both the session and the credentials must match.
func TestOwner(t *testing.T) {
	a := owner("s", "Bearer x")
	if !a.Is(owner("s", "Bearer x")) || a.Is(owner("s", "Bearer y")) || a.Is(owner("t", "Bearer x")) || a.Is(owner("s", "")) {
		t.Fatal("owner comparison is wrong")
	}
}

// TestReadAfterCursor checks what readers at different places see.
func TestReadAfterCursor(t *testing.T) {
	st := New()
	s := st.Create(owner("s", ""), "n1", Limits{Memory: 1 << 20}, nil)
	appendOK(t, s, "", []byte("a"), false) // 1
	s.Progress([]byte("p1"))               // 2
	appendOK(t, s, "", []byte("b"), false) // 3
	b := s.Read(0, 0)
	if len(b.Events) != 2 || b.KeepAlives != nil || b.Done {
		t.Fatalf("from the start: %+v (the keep-alive came before b, so it is stale)", b)
	}
	b = s.Read(1, 0)
	if len(b.Events) != 1 || string(b.Events[0].Data) != "b" {
		t.Fatalf("after 1: %+v", b)
	}
	s.Progress([]byte("p2")) // 4
	b = s.Read(3, b.KeepAliveVer)
	if len(b.Events) != 0 || len(b.KeepAlives) != 1 || string(b.KeepAlives[0].Data) != "p2" {
		t.Fatalf("after 3: %+v", b)
	}
	if again := s.Read(4, b.KeepAliveVer); again.KeepAlives != nil {
		t.Fatal("the same keep-alive twice")
	}
	select {
	case <-b.Changed:
		t.Fatal("changed before a change")
	default:
	}
	appendOK(t, s, "", []byte("final"), true)
	<-b.Changed
	s.Finish(time.Minute)
	if b = s.Read(4, b.KeepAliveVer); !b.Done || len(b.Events) != 1 {
		t.Fatalf("after the end: %+v", b)
	}
	if st.Get(s.ID) != s || st.Lookup(owner("s", ""), "n1") != nil {
		t.Fatal("a finished stream must stay readable and no longer be cancellable")
	}
	st.remove(s)
}

// TestEviction checks that the oldest finished streams go first, and that a
// running call's response is never dropped, even when it alone is over the
// limit (spilling is off here, as it is with zero SpillLimit).
func TestEviction(t *testing.T) {
	st := New()
	big := make([]byte, 300)
	var finished []*Stream
	for i := 0; i < 3; i++ {
		s := st.Create(owner("s", ""), string(rune('a'+i)), Limits{Memory: 1000}, nil)
		appendOK(t, s, "", big, true)
		s.Finish(time.Hour)
		finished = append(finished, s)
	}
	running := st.Create(owner("s", ""), "r", Limits{Memory: 1000}, nil)
	appendOK(t, running, "", big, false)
	if st.Get(finished[0].ID) != nil || st.Get(finished[1].ID) == nil || st.Get(finished[2].ID) == nil {
		t.Fatal("the oldest finished stream should have gone, and only it")
	}
	appendOK(t, running, "", make([]byte, 2000), true) // the response, over the limit alone
	for _, s := range finished {
		if st.Get(s.ID) != nil {
			t.Fatal("a finished stream survived while the store was over its limit")
		}
	}
	// A reader from the start learns of the hole; one that saw the dropped
	// event gets the response.
	if b := running.Read(0, 0); !b.Gap || len(b.Events) != 0 {
		t.Fatalf("from the start, past a dropped event: %+v", b)
	}
	b := running.Read(1, 0)
	if len(b.Events) != 1 || len(b.Events[0].Data) != 2000 {
		t.Fatalf("the running call kept %d events; its response must stay and older ones go", len(b.Events))
	}
	if n, r, _, _ := st.Stats(); n != 1 || r != 1 {
		t.Fatalf("stats: %d streams, %d running", n, r)
	}
	running.Finish(0)
	if n, r, bytes, _ := st.Stats(); n != 0 || r != 0 || bytes != 0 {
		t.Fatalf("after the end: %d streams, %d running, %d bytes", n, r, bytes)
	}
}

// TestExpiryAndCancel checks the time to live and cancellation.
func TestExpiryAndCancel(t *testing.T) {
	st := New()
	s := st.Create(owner("s", ""), "x", Limits{Memory: 1 << 20}, nil)
	appendOK(t, s, "", []byte("r"), true)
	s.Finish(20 * time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); st.Get(s.ID) != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the stream outlived its time to live")
		}
		time.Sleep(5 * time.Millisecond)
	}

	called := false
	c := st.Create(owner("s", ""), "y", Limits{Memory: 1 << 20}, func() { called = true })
	if st.Lookup(owner("s", ""), "y") != c || st.Lookup(owner("t", ""), "y") != nil {
		t.Fatal("lookup by owner and request")
	}
	if !c.Cancel() || !called || c.Cancel() {
		t.Fatal("cancel runs once")
	}
	if b := c.Read(0, 0); !b.Done || !b.Cancelled || st.Get(c.ID) != nil {
		t.Fatalf("after cancel: %+v", b)
	}
	c.Finish(time.Hour) // the producer still finishes; nothing comes back
	if n, r, _, _ := st.Stats(); n != 0 || r != 0 {
		t.Fatalf("stats after cancel: %d streams, %d running", n, r)
	}
}

// TestCancelAfterTheResponse checks that a cancel that comes once the
// response is in (the final event, before the producer finishes the
// stream) changes nothing: the response stays for the readers.
func TestCancelAfterTheResponse(t *testing.T) {
	st := New()
	called := false
	s := st.Create(owner("s", ""), "z", Limits{Memory: 1 << 20}, func() { called = true })
	appendOK(t, s, "", []byte("the response"), true)
	if s.Cancel() || called || s.Cancelled() {
		t.Fatal("a cancel after the response took effect")
	}
	b := s.Read(0, 0)
	if len(b.Events) != 1 || string(b.Events[0].Data) != "the response" || b.Cancelled {
		t.Fatalf("after a late cancel: %+v", b)
	}
	s.Finish(time.Hour)
}

// TestProgressQueues checks that progress is not coalesced: a reader sees
// each one, up to maxQueued, in order; and that a comment replaces them.
func TestProgressQueues(t *testing.T) {
	st := New()
	s := st.Create(owner("s", ""), "q", Limits{Memory: 1 << 20}, nil)
	s.Comment([]byte("keepalive"))
	for i := 0; i < maxQueued+3; i++ {
		s.Progress([]byte{byte('a' + i)})
	}
	b := s.Read(0, 0)
	if len(b.KeepAlives) != maxQueued || b.KeepAlives[0].Data[0] != 'a'+3 || b.KeepAlives[maxQueued-1].Data[0] != 'a'+maxQueued+2 {
		t.Fatalf("keep-alives %+v", b.KeepAlives)
	}
	for i := 1; i < len(b.KeepAlives); i++ {
		if b.KeepAlives[i].Seq <= b.KeepAlives[i-1].Seq {
			t.Fatal("out of order")
		}
	}
	last := b.KeepAlives[maxQueued-1].Seq
	if again := s.Read(last, b.KeepAliveVer); len(again.KeepAlives) != 0 {
		t.Fatalf("seen keep-alives again: %+v", again.KeepAlives)
	}
	s.Comment([]byte("keepalive"))
	if b = s.Read(last, b.KeepAliveVer); len(b.KeepAlives) != 1 || !b.KeepAlives[0].Comment {
		t.Fatalf("a comment replaces the queue: %+v", b.KeepAlives)
	}
	s.Finish(0)
}

// TestLimitIsTheCreators checks that each stream grows under the limit its
// creator gave, so that configurations sharing a store (a reload, or one
// that failed to load) never change each other's limit.
func TestLimitIsTheCreators(t *testing.T) {
	st := New()
	old := st.Create(owner("s", ""), "old", Limits{Memory: 1000}, nil)
	appendOK(t, old, "", make([]byte, 300), true)
	old.Finish(time.Hour)
	roomy := st.Create(owner("s", ""), "roomy", Limits{Memory: 1 << 20}, nil)
	appendOK(t, roomy, "", make([]byte, 2000), true)
	if st.Get(old.ID) == nil {
		t.Fatal("a stream with a large limit evicted another under a small one")
	}
	tight := st.Create(owner("s", ""), "tight", Limits{Memory: 1000}, nil)
	appendOK(t, tight, "", make([]byte, 10), false)
	if st.Get(old.ID) != nil {
		t.Fatal("a stream with a small limit did not make room")
	}
	roomy.Finish(0)
	tight.Finish(0)
}

// appendOK appends a durable event to s and fails the test on an error.
func appendOK(t *testing.T, s *Stream, name string, data []byte, final bool) uint64 {
	t.Helper()
	seq, err := s.Append(name, data, final)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return seq
}
