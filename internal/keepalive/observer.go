package keepalive

import "time"

// Outcomes of a kept-alive call, the same for every transport: logged, and
// reported to the Observer.
const (
	// OutcomeResponse: the upstream's response reached the client (or the
	// stream kept for it).
	OutcomeResponse = "response"
	// OutcomeUpstreamError: the upstream failed; the client got an error, or
	// on the legacy transport nothing more.
	OutcomeUpstreamError = "upstream_error"
	// OutcomeTimeout: the call ran past max_duration.
	OutcomeTimeout = "timeout"
	// OutcomeCancelled: the client cancelled the call.
	OutcomeCancelled = "cancelled"
	// OutcomeClientGone: the call ended with no client connected to hear it
	// (but not by cancellation); on Streamable HTTP its result waits for a
	// client that resumes, if resumption is on.
	OutcomeClientGone = "client_gone"
)

// Results of a resumption, as reported to the Observer.
const (
	// ReplayServed: the events after the client's cursor were all there.
	ReplayServed = "served"
	// ReplayGap: events after the client's cursor had been dropped for
	// space, so the resumption was refused rather than served with a hole.
	ReplayGap = "gap"
)

// Observer is told what kept-alive calls do, so that the embedding server can
// keep metrics. Its methods must be safe for concurrent use and quick.
type Observer interface {
	// Finished reports a call's end: its outcome (an Outcome constant) and
	// how long the upstream call took.
	Finished(outcome string, upstream time.Duration)
	// KeepAlive reports a keep-alive written to a client: "progress" or
	// "comment".
	KeepAlive(kind string)
	// Replayed reports a resumption: ReplayServed or ReplayGap.
	Replayed(result string)
}

// NopObserver is an Observer that does nothing.
type NopObserver struct{}

// Finished does nothing.
func (NopObserver) Finished(string, time.Duration) {}

// KeepAlive does nothing.
func (NopObserver) KeepAlive(string) {}

// Replayed does nothing.
func (NopObserver) Replayed(string) {}
