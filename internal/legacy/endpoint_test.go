package legacy

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestSessionFromQuery(t *testing.T) {
	for q, want := range map[string]string{
		"sessionId=abc":              "abc",
		"session_id=0f3c":            "0f3c",
		"x=1&sessionId=a%2Bb":        "a+b",
		"session_id=&sessionId=z":    "z",
		"SessionId=abc":              "",
		"":                           "",
		"sessionid=abc":              "",
		"x=%zz&sessionId=still-here": "still-here",
	} {
		if got := sessionFromQuery(q); got != want {
			t.Errorf("sessionFromQuery(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, data, host string
		tls              bool
		ok               bool
		session, out     string
	}{
		{"typescript sdk", "/messages?sessionId=5c85765a", "proxy:8080", false, true, "5c85765a", "/messages?sessionId=5c85765a"},
		{"python sdk", "/mcp/messages/?session_id=4f1e", "proxy", false, true, "4f1e", "/mcp/messages/?session_id=4f1e"},
		{"relative path", "messages?sessionId=a", "proxy", false, true, "a", "messages?sessionId=a"},
		{"this host", "http://proxy:8080/messages?sessionId=a", "proxy:8080", false, true, "a", "http://proxy:8080/messages?sessionId=a"},
		{"this host default port", "https://proxy/m?sessionId=a", "proxy:443", true, true, "a", "https://proxy/m?sessionId=a"},
		{"this host, case", "http://PROXY/m?sessionId=a", "proxy:80", false, true, "a", "http://PROXY/m?sessionId=a"},
		{"upstream host", "http://127.0.0.1:8000/messages/?session_id=a&b=%2F#f", "proxy", false, true, "a", "/messages/?session_id=a&b=%2F#f"},
		{"upstream network path", "//127.0.0.1:8000/m?sessionId=a", "proxy", false, true, "a", "/m?sessionId=a"},
		{"scheme differs", "http://proxy/m?sessionId=a", "proxy", true, true, "a", "/m?sessionId=a"},
		{"no path", "http://10.0.0.1:8000?sessionId=a", "proxy", false, true, "a", "/?sessionId=a"},
		{"no session", "/messages", "proxy", false, false, "", ""},
		{"not a url", "http://[::1", "proxy", false, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/sse", nil)
			r.Host = tc.host
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			ep, ok := parseEndpoint(tc.data, r)
			if ok != tc.ok || ep.session != tc.session || (ok && ep.data != tc.out) {
				t.Fatalf("got %+v %v, want session %q data %q ok %v", ep, ok, tc.session, tc.out, tc.ok)
			}
			if ok && ep.rewritten != (tc.out != tc.data) {
				t.Fatalf("rewritten = %v", ep.rewritten)
			}
		})
	}
}
