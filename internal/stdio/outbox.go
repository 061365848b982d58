package stdio

import "sync"

// An outbox holds the messages waiting for one client stream: a call's
// POST response or a session's GET stream. Pushing never blocks, so the
// reader of a worker's stdout never waits for a slow client.
type outbox struct {
	mu     sync.Mutex
	msgs   [][]byte
	closed bool
	signal chan struct{} // has a value when there is something to take
}

// newOutbox returns an empty, open outbox.
func newOutbox() *outbox {
	return &outbox{signal: make(chan struct{}, 1)}
}

// push adds msg; last closes the outbox after it. A push to a closed
// outbox is dropped.
func (o *outbox) push(msg []byte, last bool) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	if msg != nil {
		o.msgs = append(o.msgs, msg)
	}
	o.closed = last
	o.mu.Unlock()
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

// take returns the messages pushed since the last take, and whether the
// outbox is closed (nothing more will come).
func (o *outbox) take() ([][]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	msgs := o.msgs
	o.msgs = nil
	return msgs, o.closed
}

// ready is signalled after each push.
func (o *outbox) ready() <-chan struct{} { return o.signal }
