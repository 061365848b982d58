package mcpmsg

import (
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"
)

// IsMediaType reports whether a Content-Type names the media type mt.
func IsMediaType(contentType, mt string) bool {
	if !strings.Contains(contentType, ";") {
		// No parameters, the common case: what mime.ParseMediaType would
		// decide, without its allocations.
		return strings.EqualFold(strings.TrimSpace(contentType), mt)
	}
	got, _, err := mime.ParseMediaType(contentType)
	return err == nil && got == mt
}

// AcceptsEventStream reports whether an Accept header lists
// text/event-stream, as an MCP client that takes a streamed answer does.
func AcceptsEventStream(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// ToolPatterns are shell-style patterns (path.Match syntax) of tool names;
// none matches every tool.
type ToolPatterns []string

// Validate reports the first pattern that is not valid.
func (t ToolPatterns) Validate() error {
	for _, p := range t {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("tool pattern %q: %w", p, err)
		}
	}
	return nil
}

// Match reports whether tool is matched: by any pattern, or by default when
// there is none.
func (t ToolPatterns) Match(tool string) bool {
	if len(t) == 0 {
		return true
	}
	for _, p := range t {
		if ok, _ := path.Match(p, tool); ok {
			return true
		}
	}
	return false
}
