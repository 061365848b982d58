package stdio

import (
	"encoding/json"
	"time"
)

// A call is one client request in flight through the pool: waiting in the
// queue, then running on a worker under a worker-side id. Its fields after
// out are guarded by Pool.mu.
type call struct {
	sess     *session
	clientID json.RawMessage // the client's id, bytes unchanged
	key      string          // clientID as a map key
	msg      object          // the request as the client sent it
	token    json.RawMessage // the client's progress token, or nil
	out      *outbox         // what goes back to the client
	started  time.Time

	w         *worker // the worker running it, nil while queued
	wid       int64   // its id on w
	poolToken string  // the progress token w knows it by
	done      bool
	timer     *time.Timer
}
