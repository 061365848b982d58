package legacy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
)

func TestTrackerLeavesOtherRequests(t *testing.T) {
	tr := New(keepalive.DefaultConfig(), nil, nil, nil)
	for name, r := range map[string]*http.Request{
		"get without accept":     httptest.NewRequest("GET", "/sse", nil),
		"get for json":           withHeader(httptest.NewRequest("GET", "/mcp", nil), "Accept", "application/json"),
		"resumption":             withHeader(withHeader(httptest.NewRequest("GET", "/mcp", nil), "Accept", "text/event-stream"), "Last-Event-ID", "x"),
		"streamable session":     withHeader(withHeader(httptest.NewRequest("GET", "/mcp", nil), "Accept", "text/event-stream"), "Mcp-Session-Id", "s"),
		"delete":                 httptest.NewRequest("DELETE", "/mcp?sessionId=abc", nil),
		"post without a session": httptest.NewRequest("POST", "/mcp", nil),
	} {
		if handled, err := tr.ServeHTTP(httptest.NewRecorder(), r, nil); handled || err != nil {
			t.Errorf("%s: handled %v, err %v", name, handled, err)
		}
	}
}

// withHeader sets a header on r and returns r.
func withHeader(r *http.Request, k, v string) *http.Request {
	r.Header.Set(k, v)
	return r
}
