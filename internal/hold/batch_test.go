package hold

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// batchBody is a 2025-03-26 batch: a slow tool call with a token, a fast
// request, and a notification.
const batchBody = `[{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"slow","_meta":{"progressToken":"t1"}}},` +
	`{"jsonrpc":"2.0","id":2,"method":"tools/list"},` +
	`{"jsonrpc":"2.0","method":"notifications/initialized"}]`

// TestBatchHeld checks that a batch with a held tool call is held as a whole,
// with progress for its token, and that each request gets exactly one
// response, the upstream's or an error.
func TestBatchHeld(t *testing.T) {
	cases := []struct {
		name string
		next func(w http.ResponseWriter) error
		want map[string]string // id -> "result" or a part of the error message
	}{
		{"json array", func(w http.ResponseWriter) error {
			writeJSON(w, `[{"jsonrpc":"2.0","id":2,"result":{"tools":[]}},{"jsonrpc":"2.0","id":"slow","result":{}}]`)
			return nil
		}, map[string]string{`"slow"`: "result", `2`: "result"}},
		{"sse events", func(w http.ResponseWriter) error {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n")
			io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":\"slow\",\"result\":{}}\n\n")
			return nil
		}, map[string]string{`"slow"`: "result", `2`: "result"}},
		{"one response missing", func(w http.ResponseWriter) error {
			writeJSON(w, `[{"jsonrpc":"2.0","id":2,"result":{}}]`)
			return nil
		}, map[string]string{`"slow"`: "no response to this request", `2`: "result"}},
		{"500", func(w http.ResponseWriter) error {
			w.WriteHeader(http.StatusInternalServerError)
			return nil
		}, map[string]string{`"slow"`: "500", `2`: "500"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			f := newFixture(t, testConfig(), func(w http.ResponseWriter, r *http.Request) error {
				<-release
				return tc.next(w)
			})
			ch := readStream(f.postRev(context.Background(), batchBody, "2025-03-26", "", "").Body)
			for i := 0; i < 2; i++ {
				it := <-ch
				if m := decode(t, it.ev.Data); m.Method != "notifications/progress" || string(m.Params.ProgressToken) != `"t1"` {
					t.Fatalf("keep-alive %+v", it)
				}
			}
			close(release)
			got := map[string]string{}
			for _, d := range events(collect(t, ch)) {
				var msgs []rpc
				if strings.HasPrefix(d, "[") {
					if err := json.Unmarshal([]byte(d), &msgs); err != nil {
						t.Fatal(err)
					}
				} else {
					msgs = []rpc{decode(t, d)}
				}
				for _, m := range msgs {
					if m.ID == nil {
						continue
					}
					if _, dup := got[string(m.ID)]; dup {
						t.Fatalf("two responses for %s", m.ID)
					}
					got[string(m.ID)] = "result"
					if m.Error != nil {
						got[string(m.ID)] = m.Error.Message
					}
				}
			}
			for id, want := range tc.want {
				if !strings.Contains(got[id], want) {
					t.Fatalf("id %s: got %q, want %q (all: %v)", id, got[id], want, got)
				}
			}
			if len(got) != 2 {
				t.Fatalf("responses for %v", got)
			}
			f.waitServed()
		})
	}
}

// TestBatchRules checks the batches that are not held.
func TestBatchRules(t *testing.T) {
	var upstream int
	f := newFixture(t, testConfig(), func(w http.ResponseWriter, r *http.Request) error {
		upstream++
		time.Sleep(80 * time.Millisecond) // past grace: were it held, it would stream
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	for _, tc := range []struct {
		name, rev, body string
		status          int
		want            string
	}{
		{"empty", "2025-03-26", `[]`, http.StatusBadRequest, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,`},
		{"no valid member", "2025-03-26", `[1, "x"]`, http.StatusBadRequest, `[{"jsonrpc":"2.0","id":null,"error":{"code":-32600,`},
		{"no held call", "2025-03-26", `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`, http.StatusTeapot, ""},
		{"later revision", "2025-06-18", batchBody, http.StatusTeapot, ""},
		{"no revision header is 2025-03-26", "", `[]`, http.StatusBadRequest, `"code":-32600`},
	} {
		before := upstream
		resp := f.postRev(context.Background(), tc.body, tc.rev, "", "")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
		if passed := upstream > before; passed != (tc.status == http.StatusTeapot) {
			t.Fatalf("%s: reached the upstream: %v", tc.name, passed)
		}
		f.waitServed()
	}
}
