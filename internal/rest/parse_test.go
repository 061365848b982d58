package rest

import (
	"testing"
	"time"
)

func TestParseArguments(t *testing.T) {
	for _, tt := range []struct {
		body string
		ok   bool
		n    int
	}{
		{"", true, 0},
		{"  \n", true, 0},
		{"{}", true, 0},
		{`{"arguments":null}`, true, 0},
		{`{"arguments":{"a":1,"b":[2]}}`, true, 2},
		{`{"arguments":{}} `, true, 0},
		{`{"arguments":1}`, false, 0},
		{`{"args":{}}`, false, 0},
		{`[]`, false, 0},
		{`{"arguments":{}}{}`, false, 0},
		{`{`, false, 0},
	} {
		args, err := parseArguments([]byte(tt.body))
		if (err == nil) != tt.ok || tt.ok && len(args) != tt.n {
			t.Errorf("%q: %v %v", tt.body, args, err)
		}
		if tt.ok && args == nil {
			t.Errorf("%q: nil arguments", tt.body)
		}
	}
}

func TestWindowSummary(t *testing.T) {
	var w window
	if s := w.summary(); s.Samples != 0 {
		t.Fatalf("empty: %+v", s)
	}
	for i := 1; i <= 100; i++ {
		w.add(time.Duration(i) * time.Millisecond)
	}
	if s := w.summary(); s.Samples != 100 || s.P50 != 50 || s.P95 != 95 {
		t.Fatalf("%+v", s)
	}
	for i := 0; i < durationWindow; i++ {
		w.add(time.Second)
	}
	if s := w.summary(); s.Samples != durationWindow || s.P50 != 1000 {
		t.Fatalf("after the window filled: %+v", s)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{},
		{Upstream: "ftp://x/mcp"},
		{Upstream: "http:///mcp"},
		{Upstream: "http://x/mcp", Timeout: -1},
		{Upstream: "http://x/mcp", StripPrefix: "api"},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v passed", c)
		}
	}
	if err := (Config{Upstream: "http://127.0.0.1:4000/mcp"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
