// Package streams keeps the events of held calls so that a client whose
// connection dropped can take up the stream where it left off. A stream has
// durable events (relayed notifications and the final response), kept for
// replay, and the latest keep-alives (progress or a comment) that only live
// readers see. Every event that carries an id names its stream and its place
// in it.
//
// A stream keeps up to its SpillAfter bytes of events in memory; later
// events, and any event larger than that, go to the stream's own spill file,
// which is deleted with the stream. The store bounds the memory of all its
// streams and the bytes of all spill files. When it must drop events of a
// running call for space, a reader whose cursor is before them is told so
// (Batch.Gap) and never gets a stream with a hole in it.
package streams
