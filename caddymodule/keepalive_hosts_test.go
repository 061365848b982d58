package caddymodule

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestKeepAliveRefusesHostFirst checks that the handler checks Host and
// Origin before anything else: a refused request gets 403 with a JSON-RPC
// error and never reaches next, and an allowed one passes through.
func TestKeepAliveRefusesHostFirst(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	k := &KeepAlive{AllowedOrigins: []string{"https://app.example.com"}}
	if err := k.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	loopback := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	for _, tt := range []struct {
		name, host, origin string
		allowed            bool
	}{
		{"rebound name", "evil.example.com", "http://evil.example.com", false},
		{"cross-site page on localhost", "localhost:8080", "http://evil.example.com", false},
		{"localhost", "localhost:8080", "", true},
		{"allowed origin", "127.0.0.1:8080", "https://app.example.com", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`
			r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, loopback))
			r.Host = tt.host
			r.Header.Set("Content-Type", "application/json")
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			reached := false
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				reached = true
				w.Header().Set("Content-Type", "application/json")
				_, err := w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`))
				return err
			})
			rec := httptest.NewRecorder()
			if err := k.ServeHTTP(rec, r, next); err != nil {
				t.Fatal(err)
			}
			if reached != tt.allowed {
				t.Fatalf("reached next: %v, want %v", reached, tt.allowed)
			}
			if tt.allowed {
				return
			}
			if rec.Code != http.StatusForbidden || rec.Header().Get("Content-Type") != "application/json" ||
				!strings.Contains(rec.Body.String(), `"code":-32600`) {
				t.Fatalf("got %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
		})
	}
}

// TestKeepAliveValidateHosts checks that a JSON config with host patterns
// that make no policy fails to load.
func TestKeepAliveValidateHosts(t *testing.T) {
	for _, k := range []KeepAlive{
		{AllowedHosts: []string{"*", "localhost"}},
		{AllowedHosts: []string{"*"}, AllowedOrigins: []string{"https://app.example.com"}},
		{AllowedHosts: []string{"::1"}},
		{AllowedOrigins: []string{""}},
	} {
		if err := k.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", k)
		} else if !strings.HasPrefix(err.Error(), "mcp_keepalive: allowed_") {
			t.Errorf("error %q does not name the field", err)
		}
	}
}
