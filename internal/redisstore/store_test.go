package redisstore

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// TestMirrorAndRead checks that a stream mirrored by one Store is read by
// another: only by its owner, every durable event in order with its seq,
// name and data, the response marked, and the live events followed.
func TestMirrorAndRead(t *testing.T) {
	addr := startRedis(t)
	a, b := newStore(t, addr), newStore(t, addr)
	local := streams.New()
	o := owner("sess", "Bearer x")
	st := local.Create(o, "n7", streams.Limits{Memory: 1 << 20, Mirror: a.Mirror(time.Hour)}, nil)
	mustAppend(t, st, "", "first", false)
	st.Progress([]byte("progress is not mirrored"))
	mustAppend(t, st, "named", "second", false)

	ctx := context.Background()
	if _, err := b.Open(ctx, st.ID, owner("sess", "Bearer y")); !errors.Is(err, streams.ErrNotFound) {
		t.Fatalf("another owner's open: %v", err)
	}
	var rs streams.RemoteStream
	waitFor(t, func() bool {
		var err error
		rs, err = b.Open(ctx, st.ID, o)
		return err == nil
	})
	var got []streams.Event
	for len(got) < 2 {
		batch, err := rs.Next(ctx, 0, time.Second)
		if err != nil || batch.Gap || batch.Final {
			t.Fatalf("next: %+v, %v", batch, err)
		}
		got = batch.Events
	}
	if got[0].Seq != 1 || string(got[0].Data) != "first" || got[1].Seq != 3 || got[1].Name != "named" || string(got[1].Data) != "second" {
		t.Fatalf("events %+v", got)
	}
	// From a keep-alive's seq (2), the next event is the second.
	if batch, err := rs.Next(ctx, 2, 0); err != nil || len(batch.Events) != 1 || batch.Events[0].Seq != 3 {
		t.Fatalf("after the progress: %+v, %v", batch, err)
	}

	// With no event, a reader gets the latest progress once it is later
	// than its cursor.
	st.Progress([]byte("progress 4"))
	waitFor(t, func() bool {
		batch, err := rs.Next(ctx, 3, 10*time.Millisecond)
		if err != nil || len(batch.Events) != 0 {
			t.Fatalf("no event yet: %+v, %v", batch, err)
		}
		return batch.KeepAlive != nil && batch.KeepAlive.Seq == 4 && string(batch.KeepAlive.Data) == "progress 4"
	})
	if batch, _ := rs.Next(ctx, 4, 10*time.Millisecond); batch.KeepAlive != nil {
		t.Fatalf("the same progress again: %+v", batch)
	}

	// Following: a reader waiting after 4 gets the response when it comes.
	res := make(chan streams.RemoteBatch, 1)
	go func() {
		batch, _ := rs.Next(ctx, 4, 10*time.Second)
		res <- batch
	}()
	time.Sleep(100 * time.Millisecond) // lets the reader block first; either order must work
	mustAppend(t, st, "", "response", true)
	st.Finish(time.Minute)
	batch := <-res
	if len(batch.Events) != 1 || !batch.Final || string(batch.Events[0].Data) != "response" || batch.Events[0].Seq != 5 {
		t.Fatalf("followed: %+v", batch)
	}
}

// TestHoleIsAGap checks that a reader learns of events missing in Redis
// (a write that failed) instead of reading past them.
func TestHoleIsAGap(t *testing.T) {
	addr := startRedis(t)
	a, b := newStore(t, addr), newStore(t, addr)
	o := owner("s", "")
	st := streams.New().Create(o, "n1", streams.Limits{Memory: 1 << 20, Mirror: a.Mirror(time.Hour)}, nil)
	mustAppend(t, st, "", "one", false)
	mustAppend(t, st, "", "two", false)
	mustAppend(t, st, "", "three", true)
	st.Finish(time.Minute)
	var rs streams.RemoteStream
	waitFor(t, func() bool {
		var err error
		rs, err = b.Open(context.Background(), st.ID, o)
		if err != nil {
			return false
		}
		batch, _ := rs.Next(context.Background(), 0, 0)
		return batch.Final
	})
	if err := a.client.XDel(context.Background(), a.key("s", st.ID), "2-0").Err(); err != nil {
		t.Fatal(err)
	}
	batch, err := rs.Next(context.Background(), 0, 0)
	if err != nil || !batch.Gap || len(batch.Events) != 1 || batch.Final {
		t.Fatalf("past a hole: %+v, %v", batch, err)
	}
	if batch, _ = rs.Next(context.Background(), 1, 0); !batch.Gap || len(batch.Events) != 0 {
		t.Fatalf("at the hole: %+v", batch)
	}
}

// TestCancelAcross checks that a cancel published through one Store
// cancels the call running under another, and only for its owner.
func TestCancelAcross(t *testing.T) {
	addr := startRedis(t)
	a, b := newStore(t, addr), newStore(t, addr)
	var cancelled atomic.Bool
	o := owner("s", "Bearer x")
	st := streams.New().Create(o, "n9", streams.Limits{Memory: 1 << 20, Mirror: a.Mirror(time.Hour)}, func() { cancelled.Store(true) })
	waitFor(t, func() bool { _, err := b.Open(context.Background(), st.ID, o); return err == nil })
	// The subscription is made lazily: publish until it is heard.
	waitFor(t, func() bool {
		if err := b.Cancel(context.Background(), owner("s", "Bearer other"), "n9"); err != nil {
			t.Fatal(err)
		}
		if err := b.Cancel(context.Background(), o, "n1"); err != nil {
			t.Fatal(err)
		}
		n, _ := a.client.PubSubNumSub(context.Background(), a.key("cancel")).Result()
		return n[a.key("cancel")] == 2
	})
	time.Sleep(200 * time.Millisecond) // what was published must have been heard by now
	if cancelled.Load() {
		t.Fatal("a cancel for another owner or request cancelled the call")
	}
	if err := b.Cancel(context.Background(), o, "n9"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, cancelled.Load)
	waitFor(t, func() bool {
		rs, err := b.Open(context.Background(), st.ID, o)
		if err != nil {
			return false
		}
		batch, _ := rs.Next(context.Background(), 0, 0)
		return batch.Cancelled
	})
}

// TestOrphaned checks that a reader of a running call whose instance is
// gone is told so, with the request's id.
func TestOrphaned(t *testing.T) {
	addr := startRedis(t)
	b := newStore(t, addr)
	a, err := New(Config{Address: addr, Prefix: "test:"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := owner("s", "")
	st := streams.New().Create(o, "sabc", streams.Limits{Memory: 1 << 20, Mirror: a.Mirror(time.Hour)}, nil)
	mustAppend(t, st, "", "one", false)
	var rs streams.RemoteStream
	waitFor(t, func() bool {
		var err error
		rs, err = b.Open(context.Background(), st.ID, o)
		return err == nil
	})
	if batch, err := rs.Next(context.Background(), 1, 50*time.Millisecond); err != nil || batch.Orphaned || len(batch.Events) != 0 {
		t.Fatalf("while its instance runs: %+v, %v", batch, err)
	}
	_ = a.Close()
	// A heartbeat missing for a moment (Redis restarted empty) is not yet
	// the end.
	if batch, err := rs.Next(context.Background(), 1, 50*time.Millisecond); err != nil || batch.Orphaned {
		t.Fatalf("at once after its instance stopped: %+v, %v", batch, err)
	}
	start := time.Now()
	var batch streams.RemoteBatch
	for !batch.Orphaned && time.Since(start) < 10*time.Second {
		var err error
		if batch, err = rs.Next(context.Background(), 1, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if !batch.Orphaned || string(batch.ID) != `"abc"` || time.Since(start) < orphanAfter-time.Second {
		t.Fatalf("after its instance stopped: %+v after %v", batch, time.Since(start))
	}
}

// TestRedisDown checks that a store whose Redis is gone never blocks the
// producer and counts its failures.
func TestRedisDown(t *testing.T) {
	s, err := New(Config{Address: "127.0.0.1:1", Timeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var failures atomic.Int64
	s.OnError = func(string) { failures.Add(1) }
	st := streams.New().Create(owner("s", ""), "n1", streams.Limits{Memory: 1 << 30, Mirror: s.Mirror(time.Hour)}, nil)
	start := time.Now()
	for i := 0; i < 10000; i++ {
		mustAppend(t, st, "", "event", false)
	}
	mustAppend(t, st, "", "response", true)
	st.Finish(time.Minute)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("10,001 appends took %v with Redis down", d)
	}
	waitFor(t, func() bool { return failures.Load() > 0 })
	if _, err := s.Open(context.Background(), st.ID, owner("s", "")); err == nil || errors.Is(err, streams.ErrNotFound) {
		t.Fatalf("open with Redis down: %v", err)
	}
}

// mustAppend appends a durable event.
func mustAppend(t *testing.T, s *streams.Stream, name, data string, final bool) {
	t.Helper()
	if _, err := s.Append(name, []byte(data), final); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOpenWaitsForTheFirstWrite checks that Open finds a stream whose first
// write reaches Redis after the open began (a client that resumed on another
// instance faster than the mirror wrote), and that a stream that never comes
// is not found after openWait, not sooner.
func TestOpenWaitsForTheFirstWrite(t *testing.T) {
	addr := startRedis(t)
	a, b := newStore(t, addr), newStore(t, addr)
	o := owner("sess", "Bearer x")
	const id = "00000000000000000000000000000001"
	opened := make(chan error, 1)
	go func() {
		_, err := b.Open(context.Background(), id, o)
		opened <- err
	}()
	// The hash comes after the open began: 2 retries late, as from a
	// writer behind its client.
	time.Sleep(2 * openRetry)
	if err := a.client.HSet(context.Background(), a.key("m", id), "o", o.Digest(), "in", "other").Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("open of a stream written while it waited: %v", err)
	}

	start := time.Now()
	if _, err := b.Open(context.Background(), "0123456789abcdef0123456789abcdef", o); !errors.Is(err, streams.ErrNotFound) {
		t.Fatalf("open of an unknown stream: %v", err)
	}
	if d := time.Since(start); d < openWait-openRetry {
		t.Fatalf("an unknown stream was given up after %v, before openWait %v", d, openWait)
	}
}
