package hold

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// BenchmarkKeepAlive measures one keep-alive of a held call with a progress
// token, written to its client: what every held call pays every interval.
func BenchmarkKeepAlive(b *testing.B) {
	cfg := testConfig()
	cfg.Grace = 0
	cfg.Interval = time.Hour // the benchmark ticks by itself
	h := New(cfg, nil, nil, nil, zap.NewNop())
	release := make(chan struct{})
	started := make(chan *call, 1)
	next := func(w http.ResponseWriter, r *http.Request) error {
		started <- w.(*call)
		<-release
		writeJSON(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		return nil
	}
	r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(toolCall("1", "1")))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	r.Header.Set("MCP-Protocol-Version", "2025-11-25")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.ServeHTTP(discardWriter{make(http.Header)}, r, next)
	}()
	c := <-started
	b.ReportAllocs()
	for b.Loop() {
		c.onTick()
	}
	b.StopTimer()
	close(release)
	<-done
	h.Wait()
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
func (d discardWriter) Flush()                      {}
