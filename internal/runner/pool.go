package runner

import (
	"errors"
	"fmt"
	"sync"
)

// errQueueFull is returned by pool.Join when every worker is busy and the
// queue is full.
var errQueueFull = errors.New("queue full")

// errClosed is returned by pool.Join after pool.Close, and by a Runner that
// is shutting down.
var errClosed = errors.New("runner closed")

// A pool bounds how many runs happen at once (its workers) and how many calls
// may wait for a worker (its queue). Waiting calls get a worker in the order
// they joined. A pool is safe for concurrent use.
type pool struct {
	mu       sync.Mutex
	workers  int
	maxQueue int
	busy     int
	waiting  []*ticket // first in line first
	closed   bool
}

// ticket states.
const (
	ticketWaiting = iota
	ticketRunning
	ticketDone
)

// A ticket is a call's place in a pool: first in the queue, then on a worker.
// Its owner must call Release when done with it, whatever its state.
type ticket struct {
	p     *pool
	ready chan struct{}
	state int // guarded by p.mu
}

// newPool returns a pool with the given number of workers (at least 1) and
// room for queue waiting calls (at least 0).
func newPool(workers, queue int) *pool {
	return &pool{workers: max(workers, 1), maxQueue: max(queue, 0)}
}

// Join takes a worker if one is free and nobody waits, or else a place at the
// end of the queue. It fails with errQueueFull when the queue is full and
// with errClosed after Close.
func (p *pool) Join() (*ticket, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	t := &ticket{p: p, ready: make(chan struct{})}
	switch {
	case p.busy < p.workers && len(p.waiting) == 0:
		p.busy++
		t.state = ticketRunning
		close(t.ready)
	case len(p.waiting) < p.maxQueue:
		p.waiting = append(p.waiting, t)
	default:
		return nil, fmt.Errorf("%w: %d of %d workers busy and %d of %d places taken",
			errQueueFull, p.busy, p.workers, len(p.waiting), p.maxQueue)
	}
	return t, nil
}

// Ready is closed when the ticket has a worker.
func (t *ticket) Ready() <-chan struct{} {
	return t.ready
}

// Ahead returns how many calls wait in the queue ahead of this one; it is 0
// once the ticket has a worker.
func (t *ticket) Ahead() int {
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	for i, w := range t.p.waiting {
		if w == t {
			return i
		}
	}
	return 0
}

// Release gives back the ticket's worker, or leaves the queue if it has none
// yet. It may be called more than once.
func (t *ticket) Release() {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	switch t.state {
	case ticketWaiting:
		for i, w := range p.waiting {
			if w == t {
				p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
				break
			}
		}
	case ticketRunning:
		p.busy--
		for p.busy < p.workers && len(p.waiting) > 0 {
			next := p.waiting[0]
			p.waiting[0] = nil
			p.waiting = p.waiting[1:]
			next.state = ticketRunning
			p.busy++
			close(next.ready)
		}
	}
	t.state = ticketDone
}

// Stats returns the number of busy workers and of waiting calls.
func (p *pool) Stats() (busy, queued int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.busy, len(p.waiting)
}

// Close makes every later Join fail with errClosed. Tickets already handed
// out keep working until released.
func (p *pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}
