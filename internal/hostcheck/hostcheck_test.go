package hostcheck

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// request returns a POST for host, arrived on the local address local
// ("" for none known), with the given Origin headers.
func request(local, host string, origins ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.Host = host
	if local != "" {
		var addr net.Addr
		if strings.HasPrefix(local, "/") {
			addr = &net.UnixAddr{Name: local, Net: "unix"}
		} else {
			ap, err := net.ResolveTCPAddr("tcp", local)
			if err != nil {
				panic(err)
			}
			addr = ap
		}
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, addr))
	}
	for _, o := range origins {
		r.Header.Add("Origin", o)
	}
	return r
}

func TestCheck(t *testing.T) {
	const (
		lo4    = "127.0.0.1:8080"
		lo6    = "[::1]:8080"
		public = "203.0.113.7:443"
		lan    = "192.168.1.5:8080"
	)
	tests := []struct {
		name    string
		hosts   []string
		origins []string
		local   string
		host    string
		origin  []string
		refused string // "" when allowed, else the header refused
	}{
		// The default on loopback: only loopback names, any port.
		{name: "loopback, localhost with port", local: lo4, host: "localhost:8080"},
		{name: "loopback, localhost without port", local: lo4, host: "localhost"},
		{name: "loopback, LOCALHOST in capitals", local: lo4, host: "LOCALHOST:8080"},
		{name: "loopback, localhost with a final dot", local: lo4, host: "localhost.:8080"},
		{name: "loopback, 127.0.0.1", local: lo4, host: "127.0.0.1:8080"},
		{name: "loopback, 127.0.0.1 without port", local: lo4, host: "127.0.0.1"},
		{name: "loopback, another 127/8 address", local: lo4, host: "127.1.2.3:9"},
		{name: "loopback, [::1]", local: lo6, host: "[::1]:8080"},
		{name: "loopback, [::1] without port", local: lo6, host: "[::1]"},
		{name: "loopback, [::1] on an IPv4 connection", local: lo4, host: "[::1]:8080"},
		{name: "loopback, evil host", local: lo4, host: "evil.example.com", refused: "Host"},
		{name: "loopback v6, evil host", local: lo6, host: "evil.example.com:8080", refused: "Host"},
		{name: "loopback, localhost as a suffix", local: lo4, host: "localhost.evil.example.com", refused: "Host"},
		{name: "loopback, a private address", local: lo4, host: "192.168.1.5:8080", refused: "Host"},
		{name: "loopback, no host", local: lo4, host: "", refused: "Host"},
		{name: "loopback, rebinding with origin", local: lo4, host: "evil.example.com",
			origin: []string{"http://evil.example.com"}, refused: "Host"},
		{name: "loopback, loopback origin", local: lo4, host: "localhost:8080", origin: []string{"http://localhost:6274"}},
		{name: "loopback, 127.0.0.1 origin", local: lo4, host: "localhost:8080", origin: []string{"http://127.0.0.1:8080"}},
		{name: "loopback, [::1] origin", local: lo4, host: "localhost:8080", origin: []string{"https://[::1]"}},
		{name: "loopback, evil origin", local: lo4, host: "localhost:8080",
			origin: []string{"http://evil.example.com"}, refused: "Origin"},
		{name: "loopback, second origin evil", local: lo4, host: "localhost:8080",
			origin: []string{"http://localhost", "http://evil.example.com"}, refused: "Origin"},
		{name: "loopback, null origin", local: lo4, host: "localhost:8080", origin: []string{"null"}, refused: "Origin"},
		{name: "loopback, origin with a path", local: lo4, host: "localhost:8080",
			origin: []string{"http://localhost/x"}, refused: "Origin"},
		{name: "loopback, origin with user info", local: lo4, host: "localhost:8080",
			origin: []string{"http://localhost@evil.example.com"}, refused: "Origin"},
		{name: "loopback, empty origin is no origin", local: lo4, host: "localhost:8080", origin: []string{""}},
		{name: "loopback, allowed origin", local: lo4, host: "localhost:8080",
			origins: []string{"https://app.example.com"}, origin: []string{"https://app.example.com"}},
		{name: "loopback, allowed origin glob", local: lo4, host: "localhost:8080",
			origins: []string{"https://*.example.com"}, origin: []string{"https://App.Example.com"}},
		{name: "loopback, allowed origin glob does not cross the scheme", local: lo4, host: "localhost:8080",
			origins: []string{"https://*.example.com"}, origin: []string{"http://app.example.com"}, refused: "Origin"},
		{name: "loopback, allowed origin does not allow the host", local: lo4, host: "app.example.com",
			origins: []string{"https://app.example.com"}, origin: []string{"https://app.example.com"}, refused: "Host"},
		{name: "loopback, allowed null origin", local: lo4, host: "localhost:8080",
			origins: []string{"null"}, origin: []string{"null"}},
		{name: "loopback, every origin", local: lo4, host: "localhost:8080",
			origins: []string{"*"}, origin: []string{"http://evil.example.com"}},

		// The default elsewhere: any host, an origin of the same host.
		{name: "public, any host", local: public, host: "mcp.example.com"},
		{name: "public, same-host origin", local: public, host: "mcp.example.com", origin: []string{"https://mcp.example.com"}},
		{name: "public, same-host origin, other port", local: public, host: "mcp.example.com:8443",
			origin: []string{"https://MCP.example.com"}},
		{name: "public, cross-site origin", local: public, host: "mcp.example.com",
			origin: []string{"https://evil.example.com"}, refused: "Origin"},
		{name: "public, loopback origin", local: public, host: "mcp.example.com",
			origin: []string{"http://localhost:6274"}, refused: "Origin"},
		{name: "public, allowed origin", local: public, host: "mcp.example.com",
			origins: []string{"http://localhost:6274"}, origin: []string{"http://localhost:6274"}},
		{name: "lan, rebinding is not refused", local: lan, host: "evil.example.com",
			origin: []string{"http://evil.example.com"}},
		{name: "unix socket is not loopback", local: "/run/caddy.sock", host: "evil.example.com"},
		{name: "no local address known", host: "evil.example.com"},
		{name: "no local address, cross-site origin", host: "mcp.example.com",
			origin: []string{"https://evil.example.com"}, refused: "Origin"},

		// Allowed hosts replace the default, on any connection.
		{name: "allowed host on loopback", hosts: []string{"mcp.example.com"}, local: lo4, host: "mcp.example.com"},
		{name: "allowed hosts replace loopback names", hosts: []string{"mcp.example.com"}, local: lo4,
			host: "localhost:8080", refused: "Host"},
		{name: "allowed host glob", hosts: []string{"*.example.com"}, local: public, host: "a.b.example.com:8443"},
		{name: "allowed host glob needs a label", hosts: []string{"*.example.com"}, local: public,
			host: "example.com", refused: "Host"},
		{name: "allowed host, other host", hosts: []string{"mcp.example.com"}, local: public,
			host: "evil.example.com", refused: "Host"},
		{name: "allowed host with port", hosts: []string{"localhost:8080"}, local: lo4, host: "localhost:8080"},
		{name: "allowed host with port, other port", hosts: []string{"localhost:8080"}, local: lo4,
			host: "localhost:9090", refused: "Host"},
		{name: "allowed host with port, default port", hosts: []string{"mcp.example.com:80"}, local: public,
			host: "mcp.example.com"},
		{name: "allowed IPv6 host", hosts: []string{"[::1]"}, local: lo6, host: "[::1]:8080"},
		{name: "allowed IPv6 host, long form", hosts: []string{"[0:0:0:0:0:0:0:1]:8080"}, local: lo6, host: "[::1]:8080"},
		{name: "allowed IPv6 host, other port", hosts: []string{"[::1]:8080"}, local: lo6,
			host: "[::1]:9", refused: "Host"},
		{name: "allowed host, origin of an allowed host", hosts: []string{"mcp.example.com", "app.example.com"},
			local: public, host: "mcp.example.com", origin: []string{"https://app.example.com"}},
		{name: "allowed host, origin of another host", hosts: []string{"mcp.example.com"},
			local: public, host: "mcp.example.com", origin: []string{"https://evil.example.com"}, refused: "Origin"},
		{name: "allowed host, origin port per pattern", hosts: []string{"mcp.example.com:443"},
			local: public, host: "mcp.example.com:443", origin: []string{"https://mcp.example.com"}},
		{name: "allowed host, allowed origin", hosts: []string{"mcp.example.com"}, origins: []string{"https://app.example.org"},
			local: public, host: "mcp.example.com", origin: []string{"https://app.example.org"}},

		// The check turned off.
		{name: "every host", hosts: []string{"*"}, local: lo4, host: "evil.example.com",
			origin: []string{"http://evil.example.com"}},
		{name: "every host, null origin", hosts: []string{"*"}, local: lo4, host: "localhost", origin: []string{"null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.hosts, tt.origins)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Check(request(tt.local, tt.host, tt.origin...))
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			refused, ok := errors.AsType[*RefusedError](err)
			if !ok {
				t.Fatalf("got %v, want the %s refused", err, tt.refused)
			}
			if refused.Header != tt.refused {
				t.Fatalf("refused %s (%v), want %s", refused.Header, err, tt.refused)
			}
		})
	}
}

func TestZeroPolicyIsDefault(t *testing.T) {
	var p Policy
	if err := p.Check(request("127.0.0.1:1", "evil.example.com")); err == nil {
		t.Fatal("the zero Policy allowed an evil host on loopback")
	}
	if err := p.Check(request("127.0.0.1:1", "localhost:1")); err != nil {
		t.Fatal(err)
	}
}

func TestCheckTLSDefaultPort(t *testing.T) {
	p, err := New([]string{"mcp.example.com:443"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := request("203.0.113.7:443", "mcp.example.com")
	if p.Check(r) == nil {
		t.Fatal("a plain HTTP request without a port matched port 443")
	}
	r.TLS = &tls.ConnectionState{}
	if err := p.Check(r); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name           string
		hosts, origins []string
		want           string
	}{
		{"empty host", []string{""}, nil, "empty host pattern"},
		{"bad glob", []string{"a[b"}, nil, "syntax error in pattern"},
		{"bad port glob", []string{"localhost:[8"}, nil, "syntax error in pattern"},
		{"empty port", []string{"localhost:"}, nil, "empty port"},
		{"no name", []string{":8080"}, nil, "empty host name"},
		{"bare IPv6", []string{"::1"}, nil, "in brackets"},
		{"unclosed bracket", []string{"[::1"}, nil, "no ']'"},
		{"IPv4 in brackets", []string{"[127.0.0.1]"}, nil, "not an IPv6 address"},
		{"junk after bracket", []string{"[::1]8080"}, nil, "need a ':'"},
		{"star with others", []string{"*", "localhost"}, nil, "cannot be combined"},
		{"star with origins", []string{"*"}, []string{"https://app.example.com"}, "cannot be combined"},
		{"empty origin", nil, []string{""}, "empty origin pattern"},
		{"bad origin glob", nil, []string{"https://[a"}, "syntax error in pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.hosts, tt.origins)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestWriteRefusal(t *testing.T) {
	p, _ := New(nil, nil)
	err := p.Check(request("127.0.0.1:8080", "evil.example.com", "http://evil.example.com"))
	rec := httptest.NewRecorder()
	WriteRefusal(rec, err)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var msg struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &msg); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
	}
	if msg.JSONRPC != "2.0" || string(msg.ID) != "null" || msg.Error.Code != -32600 ||
		msg.Error.Message != `forbidden: host "evil.example.com" is not allowed` {
		t.Fatalf("body %s", rec.Body)
	}
}
