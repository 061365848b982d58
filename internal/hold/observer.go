package hold

import "time"

// Observer is told what held calls do, so that the embedding server can keep
// metrics. Its methods must be safe for concurrent use and quick.
type Observer interface {
	// Finished reports a held call's end: its outcome (one of the Outcome
	// constants, or OutcomeClientGone) and how long the upstream call took.
	Finished(outcome string, upstream time.Duration)
	// KeepAlive reports a keep-alive written to a client: "progress" or
	// "comment".
	KeepAlive(kind string)
	// Replayed reports a resumption served.
	Replayed()
}

// OutcomeClientGone is the outcome reported to an Observer for a call that
// ended with no client connected to hear it (but not by cancellation): its
// result waits for a client that resumes, if resumption is on.
const OutcomeClientGone = "client_gone"

// nopObserver is the Observer of a Handler that was given none.
type nopObserver struct{}

func (nopObserver) Finished(string, time.Duration) {}
func (nopObserver) KeepAlive(string)               {}
func (nopObserver) Replayed()                      {}
