package hold

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkFastPath measures what a tools/call answered within grace costs
// in the handler, beside the same call straight to next.
func BenchmarkFastPath(b *testing.B) {
	body := toolCall("1", "1")
	next := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`))
		return err
	}
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		r.Header.Set("Mcp-Session-Id", "abc")
		return r
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = next(httptest.NewRecorder(), req())
		}
	})
	b.Run("held", func(b *testing.B) {
		h := New(testConfig(), nil, nil, nil, zap.NewNop())
		b.ReportAllocs()
		for b.Loop() {
			_ = h.ServeHTTP(httptest.NewRecorder(), req(), next)
		}
	})
}
