package keepalive

import (
	"errors"
	"net/http"
)

// Next is the rest of the handler chain, in the shape of Caddy's
// caddyhttp.Handler.ServeHTTP.
type Next func(http.ResponseWriter, *http.Request) error

// ErrUpstreamPanic is wrapped by the error a transport returns when the
// upstream call panicked before anything was sent to the client; the glue
// answers it 502, as reverse_proxy would.
var ErrUpstreamPanic = errors.New("the upstream handler panicked")

// RequestBodyError is the error a transport returns when it could not read
// the client's request body; the glue answers it 400.
type RequestBodyError struct{ Err error }

// Error returns the message.
func (e *RequestBodyError) Error() string { return "reading request body: " + e.Err.Error() }

// Unwrap returns the read error.
func (e *RequestBodyError) Unwrap() error { return e.Err }
