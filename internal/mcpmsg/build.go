package mcpmsg

import (
	"encoding/json"
	"math"
	"strconv"
)

// JSON-RPC error codes the handler uses.
const (
	// CodeInvalidRequest is JSON-RPC's code for a request that is not valid,
	// used here for a body over the size limit and for a request whose Host
	// or Origin is not allowed.
	CodeInvalidRequest = -32600
	// CodeInternalError is JSON-RPC's code for an internal error, used here for
	// an upstream that failed to answer.
	CodeInternalError = -32603
	// CodeServerBusy is the code for a call refused because too many are held.
	CodeServerBusy = -32000
	// CodeRequestTimeout is the code the MCP SDKs use for a request that timed
	// out, used here when a held call reaches its maximum duration.
	CodeRequestTimeout = -32001
)

// ErrorResponse encodes a JSON-RPC error response. The id is written as the raw
// bytes given, or null when id is empty.
func ErrorResponse(id json.RawMessage, code int, message string) []byte {
	b := make([]byte, 0, 96+len(id)+len(message))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	if len(id) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, id...)
	}
	b = append(b, `,"error":{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"message":`...)
	b = appendString(b, message)
	return append(b, "}}"...)
}

// Progress encodes a notifications/progress message for token, written as the
// raw bytes given, or null when token is empty. Total is left out when nil, and
// message when empty. Values JSON cannot carry are written as the nearest it
// can: an infinity as the largest finite value of its sign, NaN as 0.
func Progress(token json.RawMessage, progress float64, total *float64, message string) []byte {
	b := make([]byte, 0, 128+len(token)+len(message))
	b = append(b, `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":`...)
	if len(token) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, token...)
	}
	b = append(b, `,"progress":`...)
	b = appendNumber(b, progress)
	if total != nil {
		b = append(b, `,"total":`...)
		b = appendNumber(b, *total)
	}
	if message != "" {
		b = append(b, `,"message":`...)
		b = appendString(b, message)
	}
	return append(b, "}}"...)
}

// appendNumber appends f as a JSON number, in plain decimal notation.
func appendNumber(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		f = 0
	case math.IsInf(f, 1):
		f = math.MaxFloat64
	case math.IsInf(f, -1):
		f = -math.MaxFloat64
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	if plainString(s) {
		// What json.Marshal writes for it, without its allocations.
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	enc, err := json.Marshal(s)
	if err != nil {
		// A Go string always marshals; invalid UTF-8 becomes U+FFFD.
		return append(b, `""`...)
	}
	return append(b, enc...)
}

// plainString reports whether json.Marshal writes s as it is, between quotes:
// printable ASCII with nothing it escapes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
