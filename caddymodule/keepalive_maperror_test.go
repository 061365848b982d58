package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
)

// TestMapError feeds mapError the errors the engines and the handlers after
// them return, and checks the status Caddy would answer with.
func TestMapError(t *testing.T) {
	bodyErr := &keepalive.RequestBodyError{Err: io.ErrUnexpectedEOF}
	// proxyErr is what reverse_proxy returns from next when the upstream
	// cannot be reached.
	proxyErr := caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp 127.0.0.1:4000: connect: connection refused"))
	plain := errors.New("writing the response: broken pipe")

	tests := []struct {
		name string
		err  error
		// status is the HandlerError's status; 0 means that the error
		// must come back as it went in.
		status int
		// cause must still be found in the returned error.
		cause error
	}{
		{name: "request body", err: bodyErr, status: http.StatusBadRequest, cause: io.ErrUnexpectedEOF},
		{name: "wrapped request body", err: fmt.Errorf("legacy post: %w", bodyErr), status: http.StatusBadRequest, cause: bodyErr},
		{name: "upstream panic", err: keepalive.ErrUpstreamPanic, status: http.StatusBadGateway, cause: keepalive.ErrUpstreamPanic},
		{
			name:   "wrapped upstream panic",
			err:    fmt.Errorf("calling the upstream: %w", keepalive.ErrUpstreamPanic),
			status: http.StatusBadGateway,
			cause:  keepalive.ErrUpstreamPanic,
		},
		{
			// A HandlerError that already carries a status keeps it.
			name:   "request body in a handler error",
			err:    caddyhttp.Error(http.StatusRequestEntityTooLarge, bodyErr),
			status: http.StatusRequestEntityTooLarge,
			cause:  bodyErr,
		},
		{name: "reverse_proxy's handler error", err: proxyErr},
		{name: "wrapped handler error", err: fmt.Errorf("next: %w", proxyErr)},
		{name: "any other error", err: plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapError(tt.err)
			if tt.status == 0 {
				if got != tt.err {
					t.Errorf("mapError(%v) = %#v, want the error unchanged", tt.err, got)
				}
				return
			}
			he, ok := got.(caddyhttp.HandlerError)
			if !ok {
				t.Fatalf("mapError(%v) = %T, want a caddyhttp.HandlerError", tt.err, got)
			}
			if he.StatusCode != tt.status {
				t.Errorf("status %d, want %d", he.StatusCode, tt.status)
			}
			if !errors.Is(got, tt.cause) {
				t.Errorf("mapError(%v) = %v, which no longer wraps %v", tt.err, got, tt.cause)
			}
		})
	}

	if err := mapError(nil); err != nil {
		t.Errorf("mapError(nil) = %v, want nil", err)
	}
}
