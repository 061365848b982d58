package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// Mirror returns the streams.Mirror of s for streams whose calls run for at
// most maxRunning (max_duration): their keys live that long plus an hour
// while the call runs, and the time to live given to Finish after.
func (s *Store) Mirror(maxRunning time.Duration) streams.Mirror {
	return &mirror{s: s, maxRunning: maxRunning}
}

// mirror is a streams.Mirror that writes to a Store.
type mirror struct {
	s          *Store
	maxRunning time.Duration
}

// Open starts the copy of a stream: its hash beside it is written first, by
// the same writer as its events.
func (m *mirror) Open(st *streams.Stream, request string) streams.StreamMirror {
	owner := st.Owner()
	ms := &mirrored{s: m.s, stream: st, q: m.s.shard(st.ID), call: owner.CallDigest(request),
		ttl: m.maxRunning + time.Hour}
	ms.enqueue(op{kind: opOpen, ms: ms, owner: owner.Digest(), id: requestID(request)})
	m.s.calls.Store(ms.call, ms)
	return ms
}

// requestID turns a request key (mcpmsg.IDKey) back into a JSON-RPC id:
// the same id, though a string may be escaped differently.
func requestID(key string) string {
	switch {
	case strings.HasPrefix(key, "s"):
		b, _ := json.Marshal(key[1:])
		return string(b)
	case strings.HasPrefix(key, "n") && !strings.Contains(key, "/"):
		return key[1:]
	}
	return "null"
}

// Kinds of op.
const (
	opOpen = iota
	opEvent
	opProgress
	opFinish
	opCancel
)

// op is one write for a writer.
type op struct {
	kind  int
	ms    *mirrored
	owner string        // opOpen
	id    string        // opOpen
	ev    streams.Event // opEvent, opProgress
	prev  uint64        // opEvent: the seq of the event before
	final bool          // opEvent
	ttl   time.Duration // opFinish
}

// mirrored is the copy of one stream. Its methods are called by the
// stream's producer, in order, and only queue writes.
type mirrored struct {
	s      *Store
	stream *streams.Stream
	q      *queue
	call   string        // the call digest, for cancels
	ttl    time.Duration // of the keys while the call runs

	mu   sync.Mutex
	last uint64 // the seq of the last event queued
	over bool   // finished or cancelled
}

// enqueue queues o without waiting; a full queue drops it, which readers
// of the stream see as a hole (or, for the end, as a call that stopped).
func (ms *mirrored) enqueue(o op) {
	if !ms.q.push(o) {
		ms.s.failed("queue", errQueueFull)
	}
}

// queue is the writes waiting for one writer. Its slice grows only as far
// as writes wait, up to queueLen.
type queue struct {
	mu      sync.Mutex
	pending []op
	ready   chan struct{} // holds a token when pending may be non-empty
}

// push adds o, unless queueLen writes wait already, and wakes the writer.
func (q *queue) push(o op) bool {
	q.mu.Lock()
	if len(q.pending) >= queueLen {
		q.mu.Unlock()
		return false
	}
	q.pending = append(q.pending, o)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// take returns the waiting writes, handing spare (emptied) to the queue
// for the next ones.
func (q *queue) take(spare []op) []op {
	q.mu.Lock()
	defer q.mu.Unlock()
	got := q.pending
	q.pending = spare[:0]
	return got
}

// Event queues the copy of a durable event.
func (ms *mirrored) Event(ev streams.Event, final bool) {
	ms.mu.Lock()
	prev := ms.last
	ms.last = ev.Seq
	over := ms.over
	ms.mu.Unlock()
	if !over {
		ms.enqueue(op{kind: opEvent, ms: ms, ev: ev, prev: prev, final: final})
	}
}

// Progress queues the copy of the latest progress keep-alive.
func (ms *mirrored) Progress(ev streams.Event) {
	ms.mu.Lock()
	over := ms.over
	ms.mu.Unlock()
	if !over {
		ms.enqueue(op{kind: opProgress, ms: ms, ev: ev})
	}
}

// Finish queues the end of the call.
func (ms *mirrored) Finish(ttl time.Duration) { ms.end(op{kind: opFinish, ms: ms, ttl: ttl}) }

// Cancel queues the cancel of the call.
func (ms *mirrored) Cancel() { ms.end(op{kind: opCancel, ms: ms}) }

// end queues the last write of the copy, once.
func (ms *mirrored) end(o op) {
	ms.mu.Lock()
	over := ms.over
	ms.over = true
	ms.mu.Unlock()
	if over {
		return
	}
	ms.s.calls.CompareAndDelete(ms.call, ms)
	ms.enqueue(o)
}

// errQueueFull is the error of a write dropped for a full queue.
var errQueueFull = errors.New("write queue full: Redis does not keep up")

// write is a writer: it sends the writes of its queue, as many as are
// waiting, batchLen to a pipeline, until Close.
func (s *Store) write(q *queue) {
	defer s.done.Done()
	var got []op
	for {
		closing := false
		select {
		case <-q.ready:
		case <-s.closing:
			closing = true
		}
		got = q.take(got)
		for b := got; len(b) > 0; b = b[min(len(b), batchLen):] {
			s.send(b[:min(len(b), batchLen)])
		}
		if closing {
			return
		}
		clear(got) // lets the events' data go
		if cap(got) > batchLen {
			got = nil // a burst's slice is not kept
		}
	}
}

// send writes a batch in one pipeline.
func (s *Store) send(batch []op) {
	ctx, cancel := s.ctx(context.Background())
	defer cancel()
	pipe := s.client.Pipeline()
	for _, o := range batch {
		s.queue(ctx, pipe, o)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.failed("write", err)
		return
	}
	s.succeeded()
}

// queue adds the commands of o to pipe.
func (s *Store) queue(ctx context.Context, pipe redis.Pipeliner, o op) {
	id := o.ms.stream.ID
	events, meta := s.key("s", id), s.key("m", id)
	switch o.kind {
	case opOpen:
		pipe.HSet(ctx, meta, "o", o.owner, "c", o.ms.call, "i", o.id, "st", "running", "in", s.instance)
		pipe.Expire(ctx, meta, o.ms.ttl)
		// The call's digest names its stream, for a cancel that must
		// know when the running instance has taken it (Store.Cancel).
		pipe.Set(ctx, s.key("call", o.ms.call), id, o.ms.ttl)
	case opEvent:
		if o.ev.Size > MaxEventSize {
			if s.OnError != nil {
				s.OnError("too_large")
			}
			s.log.Warn("event not copied to the stream store: larger than its limit; the stream resumes only on this instance",
				zap.String("stream", id), zap.Int64("size", o.ev.Size), zap.Int64("limit", MaxEventSize))
			return
		}
		data := o.ev.Data
		if data == nil && o.ev.Size > 0 {
			r, err := o.ms.stream.Open(o.ev)
			if err == nil {
				data, err = io.ReadAll(r)
			}
			if err != nil {
				// The stream is gone here: readers elsewhere see a hole.
				s.failed("read", err)
				return
			}
		}
		values := []any{"n", o.ev.Name, "d", data, "p", strconv.FormatUint(o.prev, 10)}
		if o.final {
			values = append(values, "f", "1")
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: events, MaxLen: MaxEvents, ID: strconv.FormatUint(o.ev.Seq, 10) + "-0", Values: values})
		pipe.Expire(ctx, events, o.ms.ttl)
	case opProgress:
		pipe.HSet(ctx, meta, "kp", o.ev.Data, "ks", strconv.FormatUint(o.ev.Seq, 10))
	case opFinish:
		if o.ttl <= 0 {
			pipe.Del(ctx, events, meta)
			return
		}
		pipe.HSet(ctx, meta, "st", "done")
		pipe.Expire(ctx, events, o.ttl)
		pipe.Expire(ctx, meta, o.ttl)
	case opCancel:
		pipe.Del(ctx, events)
		pipe.HSet(ctx, meta, "st", "cancelled")
		pipe.Expire(ctx, meta, time.Minute)
	}
}
