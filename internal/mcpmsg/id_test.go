package mcpmsg

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

func TestSameID(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		// Numbers compare by value, however they are written.
		{`1`, `1`, true},
		{`1`, `1.0`, true},
		{`1`, `1e0`, true},
		{`1.0`, `1e0`, true},
		{`1`, `1E0`, true},
		{`1`, `10e-1`, true},
		{`1`, `0.1e1`, true},
		{`100`, `1e2`, true},
		{`100`, `1E+2`, true},
		{`0`, `-0`, true},
		{`0`, `0.0e10`, true},
		{`-5`, `-5.000`, true},
		{`1`, `2`, false},
		{`1`, `-1`, false},
		{`1`, `1.0000000000000000000000001`, false},
		{`0.1`, `1e-1`, true},
		// Beyond float64 precision: these two are one float64 but two numbers.
		{`12345678901234567890123`, `12345678901234567890123`, true},
		{`12345678901234567890123`, `12345678901234567890124`, false},
		{`12345678901234567890123`, `1.2345678901234567890123e22`, true},
		{`9007199254740993`, `9007199254740992`, false},
		{`-98765432109876543210987654321`, `-9.8765432109876543210987654321E28`, true},
		// Strings compare after unescaping.
		{`"a"`, `"a"`, true},
		{`""`, `""`, true},
		{`"a"`, `"b"`, false},
		{`"a"`, `"A"`, false},
		{`"a"`, `"a "`, false},
		{`""`, `" "`, false},
		{`"\u0061"`, `"a"`, true},
		{`"a\"b\u00e9"`, `"a\"bé"`, true},
		{`"a\"b\u00e9"`, `"a\"b\u00E9"`, true},
		{`"a\"b\u00e9"`, `"a\"be"`, false},
		{`"\/"`, `"/"`, true},
		{`"\n"`, `"\u000a"`, true},
		{`"\ud83d\ude00"`, `"😀"`, true},
		{`"1"`, `"1.0"`, false},
		{`"1e0"`, `"1"`, false},
		// A string never equals a number, even one it spells.
		{`"1"`, `1`, false},
		{`1`, `"1"`, false},
		{`"12345678901234567890123"`, `12345678901234567890123`, false},
		{`"-0"`, `-0`, false},
	}
	for _, tt := range tests {
		for _, pair := range [][2]string{{tt.a, tt.b}, {tt.b, tt.a}} {
			if got := SameID(json.RawMessage(pair[0]), json.RawMessage(pair[1])); got != tt.want {
				t.Errorf("SameID(%s, %s) = %t, want %t", pair[0], pair[1], got, tt.want)
			}
		}
	}
}

// TestSameIDAbsent checks that a missing id or token matches nothing, not even
// another missing one: a message without a token must not be taken as progress
// for a call that has none.
func TestSameIDAbsent(t *testing.T) {
	tests := []struct {
		name string
		a, b json.RawMessage
	}{
		{"nil and nil", nil, nil},
		{"empty and empty", json.RawMessage{}, json.RawMessage{}},
		{"nil and empty", nil, json.RawMessage{}},
		{"nil and a number", nil, json.RawMessage(`1`)},
		{"empty and a string", json.RawMessage{}, json.RawMessage(`""`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if SameID(tt.a, tt.b) || SameID(tt.b, tt.a) {
				t.Errorf("SameID(%q, %q) = true, want false", tt.a, tt.b)
			}
		})
	}
}

// TestSameIDParsed checks SameID on ids as Parse returns them, from a request
// and a response written by different peers.
func TestSameIDParsed(t *testing.T) {
	tests := []struct {
		req, resp string
		want      bool
	}{
		{`{"id":7,"method":"tools/call","params":{"name":"t"}}`, `{"id":7.0,"result":{}}`, true},
		{`{"id":"7","method":"tools/call","params":{"name":"t"}}`, `{"id":7,"result":{}}`, false},
		{`{"id":"\u00e9","method":"tools/call","params":{"name":"t"}}`, `{"id":"é","result":{}}`, true},
		{`{"id":12345678901234567890123,"method":"m"}`, `{"id":12345678901234567890122,"error":{}}`, false},
	}
	for _, tt := range tests {
		req, err := Parse([]byte(tt.req))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := Parse([]byte(tt.resp))
		if err != nil {
			t.Fatal(err)
		}
		if got := SameID(req.ID, resp.ID); got != tt.want {
			t.Errorf("SameID(%s, %s) = %t, want %t", req.ID, resp.ID, got, tt.want)
		}
	}
}

// TestSameIDLargeExponent checks that numbers with exponents too large to
// expand are compared without running out of time or memory.
func TestSameIDLargeExponent(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`1e999999999`, `1e999999999`, true}, // byte-identical
		{`1e999999999`, `1e999999998`, false},
		{`1e-999999999`, `2e-999999999`, false},
		{`1e999999`, `10e999998`, true},
	}
	for _, tt := range tests {
		if got := SameID(json.RawMessage(tt.a), json.RawMessage(tt.b)); got != tt.want {
			t.Errorf("SameID(%s, %s) = %t, want %t", tt.a, tt.b, got, tt.want)
		}
	}
	long := strings.Repeat("9", 5000)
	if !SameID(json.RawMessage(long), json.RawMessage(long+".0")) {
		t.Errorf("SameID of a 5000-digit number and itself with .0 = false")
	}
}

// TestIDKey checks that IDKey agrees with SameID.
func TestIDKey(t *testing.T) {
	ids := []string{`1`, `1.0`, `1e0`, `10e-1`, `2`, `"1"`, `"a"`, `"\u0061"`, `"b"`, `-0`, `0`, `12345678901234567890123`, `12345678901234567890124`}
	for _, a := range ids {
		for _, b := range ids {
			same := SameID(json.RawMessage(a), json.RawMessage(b))
			keys := IDKey(json.RawMessage(a)) == IDKey(json.RawMessage(b))
			if same != keys {
				t.Errorf("%s and %s: SameID %v, equal keys %v", a, b, same, keys)
			}
		}
	}
	if IDKey(json.RawMessage(`{}`)) != "" || IDKey(nil) != "" {
		t.Error("a key for an id that is neither a string nor a number")
	}
}

// TestIDKeyIntegersAsRatString checks that the shortcut for integers gives
// the key big.Rat gives.
func TestIDKeyIntegersAsRatString(t *testing.T) {
	for _, raw := range []string{"0", "-0", "1", "-1", "10", "007", "-007", "12345678901234567890123", "-98765432109876543210", "1.0", "1e3", "-", ""} {
		want := ""
		if r, ok := new(big.Rat).SetString(raw); ok && raw != "" {
			want = "n" + r.RatString()
		}
		if got := IDKey(json.RawMessage(raw)); got != want {
			t.Errorf("IDKey(%s) = %q, want %q", raw, got, want)
		}
	}
}
