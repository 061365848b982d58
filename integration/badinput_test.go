package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// Bad input sent through caddy-stata (mcp_keepalive + reverse_proxy) to a
// strict upstream: each gets a clear HTTP status and, where the protocol has
// one, a JSON-RPC error, and nothing crashes.

// strictUpstream is a raw JSON-RPC server that refuses what it cannot
// parse the way real MCP servers do: 415 for a body that is not declared as
// JSON, 400 with a JSON-RPC parse error (-32700) for one that is not JSON,
// 400 with an invalid request error (-32600) for JSON that is not one
// JSON-RPC request (batches included: they were removed in 2025-06-18).
type strictUpstream struct {
	HostPort string
	requests atomic.Int64 // POSTs it received
}

// startStrictUpstream starts the server. Its tools: ok answers at once,
// slow_ok after faultDelay.
func startStrictUpstream(t *testing.T) *strictUpstream {
	t.Helper()
	u := &strictUpstream{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	srv.Config.SetKeepAlivesEnabled(false)
	srv.Start()
	t.Cleanup(srv.Close)
	u.HostPort = strings.TrimPrefix(srv.URL, "http://")
	return u
}

// rpcError answers with a JSON-RPC error for id null.
func rpcError(w http.ResponseWriter, status, code int, message string) {
	jsonReply(w, status, fmt.Sprintf(`{"jsonrpc":"2.0","id":null,"error":{"code":%d,"message":%q}}`, code, message))
}

func (u *strictUpstream) serve(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		rpcError(w, http.StatusUnsupportedMediaType, -32000, "Unsupported Media Type: Content-Type must be application/json")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		rpcError(w, http.StatusBadRequest, -32700, "Parse error: empty body")
		return
	case !utf8.Valid(body):
		rpcError(w, http.StatusBadRequest, -32700, "Parse error: invalid UTF-8")
		return
	case !json.Valid(body):
		rpcError(w, http.StatusBadRequest, -32700, "Parse error")
		return
	case body[0] == '[':
		rpcError(w, http.StatusBadRequest, -32600, "Invalid Request: batches are not supported")
		return
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || len(msg.ID) == 0 || (msg.ID[0] != '"' && (msg.ID[0] < '0' || msg.ID[0] > '9')) {
		rpcError(w, http.StatusBadRequest, -32600, "Invalid Request")
		return
	}
	result := `{"jsonrpc":"2.0","id":` + string(msg.ID) + `,"result":{"content":[{"type":"text","text":"done"}]}}`
	switch {
	case msg.Method == "tools/call" && msg.Params.Name == "ok":
	case msg.Method == "tools/call" && msg.Params.Name == "slow_ok":
		select {
		case <-time.After(faultDelay):
		case <-r.Context().Done():
			return
		}
	default:
		rpcError(w, http.StatusBadRequest, -32601, "Method not found")
		return
	}
	jsonReply(w, http.StatusOK, result)
}

// rawPost sends a POST over its own connection and reads the answer while
// the body is still being written, as a server may answer (413) before it
// has read all of it. contentType "" sends no Content-Type.
func rawPost(t *testing.T, url, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	host := strings.TrimPrefix(url, "http://")
	conn, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var head strings.Builder
	fmt.Fprintf(&head, "POST /mcp HTTP/1.1\r\nHost: %s\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\nContent-Length: %d\r\nConnection: close\r\n", host, len(body))
	if contentType != "" {
		fmt.Fprintf(&head, "Content-Type: %s\r\n", contentType)
	}
	head.WriteString("\r\n")
	go func() {
		// A server that answers early may close before it has read all;
		// the write error is expected then.
		if _, err := io.WriteString(conn, head.String()); err == nil {
			_, _ = conn.Write(body)
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return resp, b
}

// nested returns open, repeated depth times, then inner, then close,
// repeated depth times.
func nested(open, inner, close string, depth int) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(close, depth)
}

// batch returns a JSON array of n copies of member.
func batch(member string, n int) []byte {
	var b bytes.Buffer
	b.Grow(n * (len(member) + 1))
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(member)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// TestBadInput sends malformed and hostile requests through caddy-stata.
// The answers of the upstream pass through untouched; a body over
// max_request_body is answered by mcp_keepalive itself with 413 and a
// JSON-RPC error, without reaching the upstream. After all of them the
// process still serves quick and held calls, and logged no panic.
func TestBadInput(t *testing.T) {
	up := startStrictUpstream(t)
	c := startCaddy(t, up.HostPort, `
	mcp_keepalive {
		grace 200ms
		interval 200ms
	}
	reverse_proxy {upstream}`)
	const limit = 4 << 20 // the default max_request_body
	const jsonCT = "application/json"
	toolCallWith := func(rest string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok"` + rest + `}}`
	}
	for _, tc := range []struct {
		name        string
		contentType string
		body        []byte
		status      int
		code        int
		message     string
		// handler tells that mcp_keepalive answers, and the upstream never
		// sees the request.
		handler bool
	}{
		{"malformed JSON", jsonCT, []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok"`),
			400, -32700, "Parse error", false},
		{"method not a string", jsonCT, []byte(`{"jsonrpc":"2.0","id":1,"method":42,"params":{"name":"ok"}}`),
			400, -32600, "Invalid Request", false},
		{"method an array", jsonCT, []byte(`{"jsonrpc":"2.0","id":1,"method":["tools/call"],"params":{"name":"ok"}}`),
			400, -32600, "Invalid Request", false},
		{"id an object", jsonCT, []byte(`{"jsonrpc":"2.0","id":{"tools":1},"method":"tools/call","params":{"name":"ok"}}`),
			400, -32600, "Invalid Request", false},
		{"empty body", jsonCT, nil, 400, -32700, "Parse error", false},
		{"body over max_request_body", jsonCT,
			[]byte(toolCallWith(`,"arguments":{"data":"` + strings.Repeat("x", limit) + `"}`)),
			413, -32600, fmt.Sprintf("request body is larger than %d bytes", limit), true},
		{"nesting 100000 deep in a tools/call", jsonCT,
			[]byte(toolCallWith(`,"arguments":` + nested(`{"a":`, "1", "}", 100000))),
			400, -32700, "Parse error", false},
		{"nesting 100000 deep", jsonCT, []byte(nested("[", "", "]", 100000)), 400, -32700, "Parse error", false},
		{"invalid UTF-8", jsonCT, []byte("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"ok\xff\xfe\"}}"),
			400, -32700, "Parse error: invalid UTF-8", false},
		{"wrong Content-Type", "text/plain", []byte(toolCallWith("")),
			415, -32000, "Unsupported Media Type", false},
		{"no Content-Type", "", []byte(toolCallWith("")), 415, -32000, "Unsupported Media Type", false},
		{"batch of 100000 tools/call", jsonCT,
			batch(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow_ok"}}`, 100000),
			413, -32600, fmt.Sprintf("request body is larger than %d bytes", limit), true},
		{"batch of 100000 pings", jsonCT, batch(`{"jsonrpc":"2.0","id":1,"method":"ping"}`, 100000),
			400, -32600, "batches are not supported", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.requests.Load()
			resp, body := rawPost(t, c.URL, tc.contentType, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %s, want %d: %.300s", resp.Status, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json: %.300s", ct, body)
			}
			var m rpcMessage
			if err := json.Unmarshal(body, &m); err != nil || m.Error == nil {
				t.Fatalf("not a JSON-RPC error (%v): %.300s", err, body)
			}
			if m.Error.Code != tc.code || !strings.Contains(m.Error.Message, tc.message) || string(m.ID) != "null" {
				t.Fatalf("error %d %q for id %s, want %d naming %q for id null", m.Error.Code, m.Error.Message, m.ID, tc.code, tc.message)
			}
			t.Logf("%s, error %d %q for id %s, answered by the upstream: %v", resp.Status, m.Error.Code, m.Error.Message, m.ID, !tc.handler)
			if reached := up.requests.Load() != before; reached == tc.handler {
				t.Fatalf("the upstream saw the request: %v, want %v", reached, !tc.handler)
			}
		})
	}

	t.Run("still serving", func(t *testing.T) {
		v := toolCall(t, c.URL, "7001", "ok", `{}`)
		if v.Status != http.StatusOK || len(v.Outcomes) != 1 || v.Outcomes[0].Result == nil {
			t.Fatalf("a quick call: %d %s: %s", v.Status, v.ContentType, v.Body)
		}
		v = toolCall(t, c.URL, "7002", "slow_ok", `{}`)
		if v.ContentType != "text/event-stream" || len(v.Outcomes) != 1 || v.Outcomes[0].Result == nil {
			t.Fatalf("a held call: %d %s: %s", v.Status, v.ContentType, v.Body)
		}
	})
	select {
	case <-c.exited:
		t.Fatal("caddy-stata exited")
	default:
	}
	if strings.Contains(c.Logs(), "panic") {
		t.Fatal("caddy-stata logged a panic")
	}
}
