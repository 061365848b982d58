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
