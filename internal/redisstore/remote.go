package redisstore

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// readCount is the most events one read returns.
const readCount = 256

// Open returns the stream with the given id if its owner is owner, or
// streams.ErrNotFound: the owner is checked as in memory, by the digest of
// the same session and credentials.
//
// The instance that runs a call writes to Redis behind its client, so a
// client that drops and resumes at once on another instance can be quicker
// than the stream's first write: a stream not found is looked for again
// every openRetry until openWait has passed.
func (s *Store) Open(ctx context.Context, id string, owner streams.Owner) (streams.RemoteStream, error) {
	deadline := time.Now().Add(openWait)
	for {
		c, cancel := s.ctx(ctx)
		meta, err := s.client.HGetAll(c, s.key("m", id)).Result()
		cancel()
		if err != nil {
			s.failed("open", err)
			return nil, fmt.Errorf("reading stream %s: %w", id, err)
		}
		s.succeeded()
		if len(meta) > 0 {
			if subtle.ConstantTimeCompare([]byte(meta["o"]), []byte(owner.Digest())) != 1 {
				return nil, streams.ErrNotFound
			}
			return &remote{s: s, id: id, instance: meta["in"], call: meta["c"], request: []byte(meta["i"])}, nil
		}
		if time.Now().Add(openRetry).After(deadline) {
			return nil, streams.ErrNotFound
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(openRetry):
		}
	}
}

// openWait is how long Open looks for a stream that Redis does not have
// yet, and openRetry how often: far longer than a pipeline of the ordered
// writers takes, far shorter than a client's reconnection delay.
const (
	openWait  = time.Second
	openRetry = 50 * time.Millisecond
)

// remote is a stream read from Redis.
type remote struct {
	s        *Store
	id       string
	instance string // that runs the call
	call     string // the call's digest, by which its instance knows it
	request  []byte // the JSON-RPC id of the call's request

	// missing is when the instance's heartbeat was first seen missing, in
	// a run of looks that did not find it; zero while it is there.
	missing time.Time
}

// Request returns the JSON-RPC id of the call's request.
func (r *remote) Request() []byte { return r.request }

// Cancel publishes a cancel of the call for the instance that runs it,
// which knows it by its digest, and waits as Store.Cancel does until that
// instance has taken it.
func (r *remote) Cancel(ctx context.Context) error {
	return r.s.cancelAndWait(ctx, r.call, r.id)
}

// orphanAfter is how long an instance's heartbeat must stay missing before
// its running calls count as orphaned: a Redis that restarted empty has no
// heartbeats until the instances' next beat.
const orphanAfter = 2 * heartbeat

// Next returns the events after cursor: at once what Redis has (XRANGE),
// otherwise what comes within wait (XREAD BLOCK); with nothing, it tells
// whether the call was cancelled or its instance is gone.
func (r *remote) Next(ctx context.Context, cursor uint64, wait time.Duration) (streams.RemoteBatch, error) {
	s := r.s
	events := s.key("s", r.id)
	c, cancel := s.ctx(ctx)
	msgs, err := s.client.XRangeN(c, events, strconv.FormatUint(cursor+1, 10)+"-0", "+", readCount).Result()
	cancel()
	if err != nil {
		s.failed("read", err)
		return streams.RemoteBatch{}, fmt.Errorf("reading stream %s: %w", r.id, err)
	}
	if len(msgs) == 0 && wait > 0 {
		// XREAD's own wait is added to the command timeout by the client.
		c, cancel := context.WithTimeout(ctx, wait+s.cfg.Timeout)
		res, err := s.client.XRead(c, &redis.XReadArgs{Streams: []string{events, strconv.FormatUint(cursor, 10) + "-0"},
			Count: readCount, Block: wait}).Result()
		cancel()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			if ctx.Err() != nil {
				return streams.RemoteBatch{}, ctx.Err()
			}
			s.failed("read", err)
			return streams.RemoteBatch{}, fmt.Errorf("following stream %s: %w", r.id, err)
		case len(res) > 0:
			msgs = res[0].Messages
		}
	}
	s.succeeded()
	if len(msgs) > 0 {
		return batch(msgs, cursor), nil
	}
	return r.ended(ctx, cursor)
}

// batch turns entries read after cursor into a batch, cut before the first
// whose event before is not the one before it: a hole, where writes failed
// or MAXLEN trimmed.
func batch(msgs []redis.XMessage, cursor uint64) streams.RemoteBatch {
	var b streams.RemoteBatch
	last := cursor
	for _, m := range msgs {
		seq, _, _ := strings.Cut(m.ID, "-")
		n, err := strconv.ParseUint(seq, 10, 64)
		prev, perr := strconv.ParseUint(field(m, "p"), 10, 64)
		if err != nil || perr != nil || prev > last {
			b.Gap = true
			return b
		}
		data := field(m, "d")
		b.Events = append(b.Events, streams.Event{Seq: n, Name: field(m, "n"), Data: []byte(data), Size: int64(len(data))})
		last = n
		if field(m, "f") == "1" {
			b.Final = true
			return b
		}
	}
	return b
}

// field returns a field of an entry as a string.
func field(m redis.XMessage, name string) string {
	v, _ := m.Values[name].(string)
	return v
}

// ended tells, when no event came, whether the stream ended without its
// response: the call was cancelled, or the instance that runs it is gone.
// It reads the events after cursor again in the same pipeline, for one
// that came meanwhile.
func (r *remote) ended(ctx context.Context, cursor uint64) (streams.RemoteBatch, error) {
	s := r.s
	c, cancel := s.ctx(ctx)
	defer cancel()
	pipe := s.client.Pipeline()
	meta := pipe.HMGet(c, s.key("m", r.id), "st", "i", "kp", "ks")
	alive := pipe.Exists(c, s.key("i", r.instance))
	msgs := pipe.XRangeN(c, s.key("s", r.id), strconv.FormatUint(cursor+1, 10)+"-0", "+", readCount)
	if _, err := pipe.Exec(c); err != nil && !errors.Is(err, redis.Nil) {
		s.failed("read", err)
		return streams.RemoteBatch{}, fmt.Errorf("reading stream %s: %w", r.id, err)
	}
	if m := msgs.Val(); len(m) > 0 {
		return batch(m, cursor), nil
	}
	vals := meta.Val()
	st, _ := vals[0].(string)
	id, _ := vals[1].(string)
	kp, _ := vals[2].(string)
	ks, _ := vals[3].(string)
	switch {
	case st == "cancelled" || st == "":
		// A stream whose keys are gone has nothing more to give either.
		return streams.RemoteBatch{Cancelled: true}, nil
	case st == "done":
		// Done, but its response is not in Redis: it was not written.
		return streams.RemoteBatch{Gap: true}, nil
	case alive.Val() == 0:
		if r.missing.IsZero() {
			r.missing = time.Now()
		}
		if time.Since(r.missing) >= orphanAfter {
			return streams.RemoteBatch{Orphaned: true, ID: []byte(id)}, nil
		}
	default:
		r.missing = time.Time{}
	}
	if seq, err := strconv.ParseUint(ks, 10, 64); err == nil && seq > cursor {
		return streams.RemoteBatch{KeepAlive: &streams.Event{Seq: seq, Data: []byte(kp), Size: int64(len(kp))}}, nil
	}
	return streams.RemoteBatch{}, nil
}

// Interface guards.
var (
	_ streams.Remote = (*Store)(nil)
	_ streams.Mirror = (*mirror)(nil)
)
