package legacy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
)

// recordNext is a next handler that records the body it got and answers
// with status.
func recordNext(status int, got *[]byte) keepalive.Next {
	return func(w http.ResponseWriter, r *http.Request) error {
		*got, _ = io.ReadAll(r.Body)
		w.WriteHeader(status)
		return nil
	}
}

// trackerWithSession returns a Tracker whose registry has an open session.
func trackerWithSession(cfg keepalive.Config) (*Tracker, *session) {
	tr := New(cfg, nil, nil, nil)
	s := newSession("abc")
	tr.reg.add(s)
	return tr, s
}

func TestPostBodyUnchanged(t *testing.T) {
	cfg := keepalive.DefaultConfig()
	cfg.MaxRequestBody = 128
	for name, body := range map[string]string{
		"tools/call":          toolCall(`1`, "sleep", `"t"`),
		"over max body":       toolCall(`1`, "sleep", `"`+strings.Repeat("x", 200)+`"`),
		"exactly max body":    strings.Repeat(" ", 128),
		"not json":            "{{{",
		"batch (not tracked)": "[" + toolCall(`1`, "sleep", "") + "]",
	} {
		t.Run(name, func(t *testing.T) {
			tr, s := trackerWithSession(cfg)
			r := httptest.NewRequest("POST", "/messages?sessionId=abc", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			var got []byte
			handled, err := tr.ServeHTTP(httptest.NewRecorder(), r, recordNext(202, &got))
			if !handled || err != nil {
				t.Fatalf("handled %v, err %v", handled, err)
			}
			if string(got) != body {
				t.Fatalf("next got %q, want %q", got, body)
			}
			if want := name == "tools/call"; (s.pending() == 1) != want {
				t.Fatalf("%d pending", s.pending())
			}
		})
	}
}

func TestPostNotHandled(t *testing.T) {
	tr, _ := trackerWithSession(keepalive.DefaultConfig())
	for _, target := range []string{"/messages?sessionId=other", "/messages", "/mcp?session=abc"} {
		r := httptest.NewRequest("POST", target, strings.NewReader(toolCall(`1`, "sleep", "")))
		r.Header.Set("Content-Type", "application/json")
		if handled, _ := tr.ServeHTTP(httptest.NewRecorder(), r, nil); handled {
			t.Errorf("%s was handled", target)
		}
	}
}

func TestPostOtherContentType(t *testing.T) {
	tr, s := trackerWithSession(keepalive.DefaultConfig())
	r := httptest.NewRequest("POST", "/messages?session_id=abc", strings.NewReader(toolCall(`1`, "sleep", "")))
	r.Header.Set("Content-Type", "text/plain")
	var got []byte
	if handled, _ := tr.ServeHTTP(httptest.NewRecorder(), r, recordNext(400, &got)); !handled || s.pending() != 0 {
		t.Fatalf("handled %v, %d pending", handled, s.pending())
	}
}

func TestPostFailures(t *testing.T) {
	for name, next := range map[string]keepalive.Next{
		"error": func(w http.ResponseWriter, r *http.Request) error { return errors.New("refused") },
		"500":   func(w http.ResponseWriter, r *http.Request) error { w.WriteHeader(500); return nil },
		"panic": func(w http.ResponseWriter, r *http.Request) error { panic(http.ErrAbortHandler) },
	} {
		t.Run(name, func(t *testing.T) {
			tr, s := trackerWithSession(keepalive.DefaultConfig())
			r := httptest.NewRequest("POST", "/messages?sessionId=abc", strings.NewReader(toolCall(`1`, "sleep", "")))
			r.Header.Set("Content-Type", "application/json")
			func() {
				defer func() {
					if p := recover(); p != nil && p != http.ErrAbortHandler {
						panic(p)
					}
				}()
				_, _ = tr.ServeHTTP(httptest.NewRecorder(), r, next)
			}()
			if s.pending() != 0 {
				t.Fatal("the call of a failed POST is pending")
			}
			if n := tr.slots.Held(); n != 0 {
				t.Fatalf("%d slots held after a failed POST", n)
			}
		})
	}
}

func TestPostWroteNothingCountsAsAccepted(t *testing.T) {
	tr, s := trackerWithSession(keepalive.DefaultConfig())
	r := httptest.NewRequest("POST", "/messages?sessionId=abc", strings.NewReader(toolCall(`1`, "sleep", "")))
	r.Header.Set("Content-Type", "application/json")
	_, _ = tr.ServeHTTP(httptest.NewRecorder(), r, func(http.ResponseWriter, *http.Request) error { return nil })
	if s.pending() != 1 {
		t.Fatal("the call is not pending")
	}
}

// errReader fails every read.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("broken") }

func TestPostBodyReadError(t *testing.T) {
	tr, _ := trackerWithSession(keepalive.DefaultConfig())
	r := httptest.NewRequest("POST", "/messages?sessionId=abc", errReader{})
	r.Header.Set("Content-Type", "application/json")
	handled, err := tr.ServeHTTP(httptest.NewRecorder(), r, nil)
	if !handled || err == nil || !strings.Contains(err.Error(), "reading request body") {
		t.Fatalf("handled %v, err %v", handled, err)
	}
}

func TestStatusWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: rec}
	sw.WriteHeader(103)
	sw.WriteHeader(202)
	_, _ = sw.Write([]byte("Accepted"))
	sw.Flush()
	if sw.status != 202 || rec.Body.String() != "Accepted" || !rec.Flushed {
		t.Fatalf("status %d, recorded %q flushed %v", sw.status, rec.Body, rec.Flushed)
	}
	if http.NewResponseController(sw).Flush() != nil {
		t.Fatal("the controller cannot flush through it")
	}
}
