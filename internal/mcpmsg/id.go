package mcpmsg

import (
	"bytes"
	"encoding/json"
	"math/big"
)

// SameID reports whether two raw ids (or progress tokens) denote the same value:
// equal strings after unescaping, or equal numbers however they are written
// (1, 1.0 and 1e0 are one number). A string never equals a number.
func SameID(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return len(a) > 0
	}
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	aStr, bStr := a[0] == '"', b[0] == '"'
	if aStr != bStr {
		return false
	}
	if aStr {
		var x, y string
		return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && x == y
	}
	x, okX := new(big.Rat).SetString(string(a))
	y, okY := new(big.Rat).SetString(string(b))
	return okX && okY && x.Cmp(y) == 0
}

// IDKey returns a string that is equal for two raw ids exactly when SameID
// holds for them, for use as a map key. It returns "" for an id that is
// neither a string nor a number.
func IDKey(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return "s" + s
	}
	if canonicalInt(raw) {
		// The form of nearly every id: what RatString would give, without
		// big.Rat's allocations.
		return "n" + string(raw)
	}
	r, ok := new(big.Rat).SetString(string(raw))
	if !ok {
		return ""
	}
	return "n" + r.RatString()
}

// canonicalInt reports whether raw is an integer written as RatString writes
// it: an optional minus, then digits without a leading zero (or a lone 0),
// and not -0.
func canonicalInt(raw []byte) bool {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
		if len(digits) == 1 && digits[0] == '0' {
			return false
		}
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
