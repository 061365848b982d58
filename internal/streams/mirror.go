package streams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Mirror copies the durable events of streams to a store that other
// processes share, so that any of them can serve a resume. A stream's
// creator chooses it through Limits.Mirror; nil keeps the stream in this
// process alone. The stream in memory stays the local copy: it serves local
// readers whatever happens to the mirror.
type Mirror interface {
	// Open starts the copy of s, a new stream whose request key is request
	// (see Store.Create). It must not block.
	Open(s *Stream, request string) StreamMirror
}

// StreamMirror is the copy of one stream. Its methods are called in the
// order of the stream's changes and must not block: a copy that cannot keep
// up falls behind, never the call.
type StreamMirror interface {
	// Event copies ev, the stream's newest durable event; final marks the
	// call's response. Its data may be spilled: Stream.Open reads it.
	Event(ev Event, final bool)
	// Progress copies the stream's latest progress keep-alive, which a
	// reader elsewhere sends when no event comes, so that its client's
	// progress timers are reset there too.
	Progress(ev Event)
	// Finish tells that the call is over; the copy is kept for ttl (0: it
	// goes at once).
	Finish(ttl time.Duration)
	// Cancel tells that the call was cancelled.
	Cancel()
}

// Remote finds streams of calls that other processes run, through the store
// their Mirror writes to.
type Remote interface {
	// Open returns the stream with the given id when owner may read it, or
	// ErrNotFound.
	Open(ctx context.Context, id string, owner Owner) (RemoteStream, error)
	// Cancel asks whichever process runs the call of owner whose request key
	// is request to cancel it, and returns once that process has taken the
	// cancel (or after a short bound), so that what the caller sends the
	// upstream next finds the call cancelled.
	Cancel(ctx context.Context, owner Owner, request string) error
	// AddTask records that owner has the task with the given id until
	// expires, so that Tasks lists it on every process.
	AddTask(ctx context.Context, owner Owner, id string, expires time.Time) error
	// Tasks returns the ids of owner's tasks that have not expired at now,
	// in no particular order.
	Tasks(ctx context.Context, owner Owner, now time.Time) ([]string, error)
}

// RemoteStream is a stream read from a shared store.
type RemoteStream interface {
	// Next returns the durable events after cursor, waiting up to wait for
	// one when there is none yet (no wait when wait is 0).
	Next(ctx context.Context, cursor uint64, wait time.Duration) (RemoteBatch, error)
	// Request returns the JSON-RPC id of the call's request, as the client
	// sent it.
	Request() []byte
	// Cancel asks the process that runs the call to cancel it, and waits,
	// as Remote's Cancel does for a request key.
	Cancel(ctx context.Context) error
}

// RemoteBatch is what one RemoteStream.Next returns.
type RemoteBatch struct {
	// Events are the durable events after the cursor, in order, their data
	// in memory.
	Events []Event
	// Final tells that the last of Events is the call's response.
	Final bool
	// Gap tells that events after the cursor (or after the last of Events)
	// are missing: the stream cannot be taken up from there.
	Gap bool
	// Cancelled tells that the call was cancelled: nothing more comes.
	Cancelled bool
	// Orphaned tells that the process that ran the call is gone before its
	// response: nothing more comes.
	Orphaned bool
	// ID is the JSON-RPC id of the call's request, when Orphaned.
	ID []byte
	// KeepAlive, when there are no Events, is the call's latest progress
	// keep-alive if it is later than the cursor.
	KeepAlive *Event
}

// ErrNotFound is what Remote.Open returns for a stream it does not know or
// that the owner may not read.
var ErrNotFound = errors.New("no such stream")

// Digest returns a hash of the owner, for a store shared with other
// processes that must compare owners without knowing their secrets.
func (o Owner) Digest() string {
	h := sha256.New()
	h.Write([]byte(o.session))
	h.Write([]byte{0})
	h.Write(o.auth[:])
	return hex.EncodeToString(h.Sum(nil))
}

// CallDigest returns a hash of the owner's key of a request, naming a call
// across processes without revealing the owner.
func (o Owner) CallDigest(request string) string {
	sum := sha256.Sum256([]byte(o.key(request)))
	return hex.EncodeToString(sum[:])
}
