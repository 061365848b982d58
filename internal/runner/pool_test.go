package runner

import (
	"errors"
	"testing"
)

// isReady reports whether t has a worker.
func isReady(t *ticket) bool {
	select {
	case <-t.Ready():
		return true
	default:
		return false
	}
}

func TestPoolOrderAndPlaces(t *testing.T) {
	p := newPool(1, 2)
	a, err := p.Join()
	if err != nil || !isReady(a) {
		t.Fatalf("first join: ready=%v err=%v", a != nil && isReady(a), err)
	}
	b, _ := p.Join()
	c, _ := p.Join()
	if isReady(b) || isReady(c) {
		t.Fatal("queued tickets are ready")
	}
	if b.Ahead() != 0 || c.Ahead() != 1 {
		t.Errorf("ahead: b %d, c %d; want 0, 1", b.Ahead(), c.Ahead())
	}
	if _, err := p.Join(); !errors.Is(err, errQueueFull) {
		t.Errorf("fourth join: %v, want errQueueFull", err)
	}
	if busy, queued := p.Stats(); busy != 1 || queued != 2 {
		t.Errorf("stats %d busy %d queued", busy, queued)
	}

	a.Release()
	if !isReady(b) || isReady(c) {
		t.Fatal("after a: b should run, c wait")
	}
	if c.Ahead() != 0 {
		t.Errorf("c ahead %d, want 0", c.Ahead())
	}
	a.Release() // twice is harmless
	if busy, queued := p.Stats(); busy != 1 || queued != 1 {
		t.Errorf("stats %d busy %d queued", busy, queued)
	}
	b.Release()
	c.Release()
	if busy, queued := p.Stats(); busy != 0 || queued != 0 {
		t.Errorf("stats %d busy %d queued", busy, queued)
	}
}

func TestPoolLeaveQueue(t *testing.T) {
	p := newPool(1, 3)
	a, _ := p.Join()
	b, _ := p.Join()
	c, _ := p.Join()
	b.Release() // b gives up while waiting
	if c.Ahead() != 0 {
		t.Errorf("c ahead %d after b left", c.Ahead())
	}
	a.Release()
	if !isReady(c) {
		t.Error("c did not get the worker")
	}
	if isReady(b) {
		t.Error("b got a worker after leaving")
	}
	c.Release()
	if busy, queued := p.Stats(); busy != 0 || queued != 0 {
		t.Errorf("stats %d busy %d queued", busy, queued)
	}
}

func TestPoolNoQueueAndClose(t *testing.T) {
	p := newPool(2, 0)
	a, _ := p.Join()
	b, _ := p.Join()
	if !isReady(a) || !isReady(b) {
		t.Fatal("two workers should take two tickets")
	}
	if _, err := p.Join(); !errors.Is(err, errQueueFull) {
		t.Errorf("join with no queue: %v", err)
	}
	p.Close()
	a.Release()
	if _, err := p.Join(); !errors.Is(err, errClosed) {
		t.Errorf("join after Close: %v", err)
	}
	b.Release()
}
