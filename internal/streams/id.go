package streams

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// idPrefix starts every event id this package issues.
const idPrefix = "mka-"

// streamIDLen is the length of a stream id: 128 random bits in hex.
const streamIDLen = 32

// newStreamID returns a fresh, unguessable stream id.
func newStreamID() string {
	var b [streamIDLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// EventID returns the event id of the event at seq in stream.
func EventID(stream string, seq uint64) string {
	return string(AppendEventID(make([]byte, 0, len(idPrefix)+len(stream)+21), stream, seq))
}

// AppendEventID appends EventID(stream, seq) to dst and returns the extended
// slice.
func AppendEventID(dst []byte, stream string, seq uint64) []byte {
	dst = append(dst, idPrefix...)
	dst = append(dst, stream...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, seq, 10)
}

// ParseEventID splits an event id into its stream id and sequence number. It
// reports false for an id this package did not issue.
func ParseEventID(id string) (stream string, seq uint64, ok bool) {
	rest, found := strings.CutPrefix(id, idPrefix)
	if !found || len(rest) < streamIDLen+2 || rest[streamIDLen] != '-' {
		return "", 0, false
	}
	stream = rest[:streamIDLen]
	for _, c := range stream {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", 0, false
		}
	}
	seq, err := strconv.ParseUint(rest[streamIDLen+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return stream, seq, true
}
