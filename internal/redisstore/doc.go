// Package redisstore keeps the streams of held calls in Redis (or Valkey),
// so that every instance of caddy-stata sharing one Redis can serve every
// resume. It is free of Caddy.
//
// Each process keeps its streams in memory as before (package streams): that
// copy serves its own readers and is the fallback when Redis fails. Store
// mirrors each durable event of a stream (not the keep-alives, which are
// never replayed; only the latest progress, beside it) to a Redis stream, one entry per event, from writers that
// never block the call: a few goroutines, each owning the streams whose ids
// hash to it so that a stream's events stay in order, each sending what is
// queued in one pipeline. A failed write is counted, logged once until
// Redis answers again, and otherwise ignored: the event stays in memory for
// a local resume. The keys of a stream with id ID, under the prefix P:
//
//	P s:ID   the Redis stream: one entry per event, with the entry id <seq>-0
//	         and the fields n (event name), d (data), p (the seq of the event
//	         before, which tells a reader of a hole) and f (1 on the response)
//	P m:ID   a hash beside it: o (the owner's digest), c (the call's digest,
//	         for cancellation), i (the JSON-RPC id), st (running, done or
//	         cancelled), in (the instance that runs the call), and kp and ks
//	         (the latest progress keep-alive and its seq, which a reader
//	         sends when no event comes, so that progress timers of the
//	         client are reset wherever it resumes)
//	P i:IN   the heartbeat of instance IN, which expires when it stops
//	P cancel the Pub/Sub channel of cancels: a call digest
//
// Both stream keys expire: the resume time to live after the call's end, and
// the longest a call may run plus an hour while it runs. MAXLEN bounds the
// entries of a stream, and MaxEventSize the size of one: a larger event (a
// large result, which the local copy keeps in its spill file) is not
// copied, and a reader elsewhere finds a hole in its place.
//
// A resume that finds no stream in memory opens it here (Store.Open): the
// owner is checked as in memory, the events after the client's cursor are
// read with XRANGE, and the rest followed with XREAD BLOCK until the
// response, which the reader writes with the same bytes the running
// instance writes. A notifications/cancelled for a call not running here is
// published; every Store subscribes and cancels its own call of that digest.
package redisstore
