package mcpmsg

import (
	"encoding/json"
	"testing"
)

func f64(v float64) *float64 { return &v }

func TestParseProgress(t *testing.T) {
	tests := []struct {
		name   string
		params string
		want   ProgressParams
	}{
		{
			name:   "every member",
			params: `{"progressToken":"tok","progress":3,"total":10,"message":"three of ten"}`,
			want:   ProgressParams{Token: raw(`"tok"`), Progress: 3, Total: f64(10), Message: "three of ten"},
		},
		{
			name:   "without total or message",
			params: `{"progressToken":"tok","progress":0.25}`,
			want:   ProgressParams{Token: raw(`"tok"`), Progress: 0.25},
		},
		{
			name:   "with total, without message",
			params: `{"progress":1,"total":2,"progressToken":5}`,
			want:   ProgressParams{Token: raw(`5`), Progress: 1, Total: f64(2)},
		},
		{
			name:   "with message, without total",
			params: `{"progressToken":5,"progress":1,"message":"a \"quoted\"\nline"}`,
			want:   ProgressParams{Token: raw(`5`), Progress: 1, Message: "a \"quoted\"\nline"},
		},
		{
			name:   "total of zero is present",
			params: `{"progressToken":5,"progress":0,"total":0}`,
			want:   ProgressParams{Token: raw(`5`), Progress: 0, Total: f64(0)},
		},
		{
			name:   "null total and message count as absent",
			params: `{"progressToken":5,"progress":1,"total":null,"message":null}`,
			want:   ProgressParams{Token: raw(`5`), Progress: 1},
		},
		{
			name:   "token bytes kept: large integer",
			params: `{"progressToken":12345678901234567890123,"progress":1}`,
			want:   ProgressParams{Token: raw(`12345678901234567890123`), Progress: 1},
		},
		{
			name:   "token bytes kept: escaped string",
			params: `{"progressToken":"a\"b\u00e9","progress":1}`,
			want:   ProgressParams{Token: raw(`"a\"b\u00e9"`), Progress: 1},
		},
		{
			name:   "token bytes kept: exponent",
			params: `{"progressToken":-1.5E+3,"progress":1}`,
			want:   ProgressParams{Token: raw(`-1.5E+3`), Progress: 1},
		},
		{
			name:   "numbers in any form",
			params: `{"progressToken":"t","progress":1.5e1,"total":-2E-1}`,
			want:   ProgressParams{Token: raw(`"t"`), Progress: 15, Total: f64(-0.2)},
		},
		{
			name:   "unknown members ignored",
			params: `{"_meta":{"x":1},"progressToken":"t","progress":2,"extra":[1,2]}`,
			want:   ProgressParams{Token: raw(`"t"`), Progress: 2},
		},
		{
			name:   "duplicates: the last wins",
			params: `{"progressToken":"a","progress":1,"total":5,"message":"x","progressToken":"b","progress":2,"total":null,"message":"y"}`,
			want:   ProgressParams{Token: raw(`"b"`), Progress: 2, Message: "y"},
		},
		{
			name:   "member names are case-sensitive",
			params: `{"progressToken":"t","progress":1,"Total":9,"Message":"no","Progress":7}`,
			want:   ProgressParams{Token: raw(`"t"`), Progress: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProgress(json.RawMessage(tt.params))
			if err != nil {
				t.Fatalf("ParseProgress(%s): %v", tt.params, err)
			}
			checkProgress(t, got, tt.want)
		})
	}
}

func checkProgress(t *testing.T, got, want ProgressParams) {
	t.Helper()
	if string(got.Token) != string(want.Token) {
		t.Errorf("Token = %q, want %q", got.Token, want.Token)
	}
	if got.Progress != want.Progress {
		t.Errorf("Progress = %v, want %v", got.Progress, want.Progress)
	}
	switch {
	case (got.Total == nil) != (want.Total == nil):
		t.Errorf("Total = %v, want %v", got.Total, want.Total)
	case got.Total != nil && *got.Total != *want.Total:
		t.Errorf("Total = %v, want %v", *got.Total, *want.Total)
	}
	if got.Message != want.Message {
		t.Errorf("Message = %q, want %q", got.Message, want.Message)
	}
}

func TestParseProgressErrors(t *testing.T) {
	tests := []struct {
		name, params string
	}{
		{"missing progress", `{"progressToken":"t","total":10,"message":"m"}`},
		{"missing token", `{"progress":1}`},
		{"missing both", `{}`},
		{"null token", `{"progressToken":null,"progress":1}`},
		{"boolean token", `{"progressToken":true,"progress":1}`},
		{"object token", `{"progressToken":{},"progress":1}`},
		{"array token", `{"progressToken":[1],"progress":1}`},
		{"progress is a string", `{"progressToken":"t","progress":"1"}`},
		{"progress is an object", `{"progressToken":"t","progress":{}}`},
		{"progress out of range", `{"progressToken":"t","progress":1e400}`},
		{"total is a string", `{"progressToken":"t","progress":1,"total":"10"}`},
		{"message is a number", `{"progressToken":"t","progress":1,"message":5}`},
		{"params is an array", `[{"progressToken":"t","progress":1}]`},
		{"params is null", `null`},
		{"params is a string", `"x"`},
		{"params is empty", ``},
		{"params is malformed", `{"progressToken":"t","progress":1`},
		{"trailing data", `{"progressToken":"t","progress":1}{}`},
		{"case-mismatched progress only", `{"progressToken":"t","Progress":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProgress(json.RawMessage(tt.params))
			if err == nil {
				t.Fatalf("ParseProgress(%s) = %+v, want an error", tt.params, got)
			}
			checkProgress(t, got, ProgressParams{})
		})
	}
	if _, err := ParseProgress(nil); err == nil {
		t.Error("ParseProgress(nil) succeeded")
	}
}

// TestParseProgressOfParse reads the params of a progress notification as the
// handler does: Parse first, then ParseProgress of its Params.
func TestParseProgressOfParse(t *testing.T) {
	m, err := Parse([]byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"a\"b","progress":4,"total":8,"message":"half"}}`))
	if err != nil {
		t.Fatal(err)
	}
	pp, err := ParseProgress(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	checkProgress(t, pp, ProgressParams{Token: raw(`"a\"b"`), Progress: 4, Total: f64(8), Message: "half"})
	if !SameID(pp.Token, m.ProgressToken) {
		t.Errorf("ParseProgress token %q differs from Parse token %q", pp.Token, m.ProgressToken)
	}
}
