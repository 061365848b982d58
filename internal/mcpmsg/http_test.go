package mcpmsg

import (
	"net/http"
	"testing"
)

func TestAcceptsEventStream(t *testing.T) {
	for accept, want := range map[string]bool{
		"text/event-stream":                   true,
		"application/json, text/event-stream": true,
		"TEXT/EVENT-STREAM;q=0.9":             true,
		"*/*":                                 false,
		"":                                    false,
	} {
		h := http.Header{}
		h.Set("Accept", accept)
		if got := AcceptsEventStream(h); got != want {
			t.Errorf("%q: %v", accept, got)
		}
	}
}

func TestToolPatterns(t *testing.T) {
	if !ToolPatterns(nil).Match("anything") {
		t.Error("no pattern must match every tool")
	}
	p := ToolPatterns{"stata_*", "exact"}
	for tool, want := range map[string]bool{"stata_run_file": true, "exact": true, "exactly": false, "other": false} {
		if p.Match(tool) != want {
			t.Errorf("%q: %v", tool, !want)
		}
	}
	if (ToolPatterns{"["}).Validate() == nil || p.Validate() != nil {
		t.Error("Validate")
	}
}

func TestIsMediaType(t *testing.T) {
	if !IsMediaType("application/json; charset=utf-8", "application/json") || IsMediaType("text/html", "application/json") || IsMediaType("", "application/json") {
		t.Error("IsMediaType")
	}
}
