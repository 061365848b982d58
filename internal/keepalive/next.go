package keepalive

import "net/http"

// Next is the rest of the handler chain, in the shape of Caddy's
// caddyhttp.Handler.ServeHTTP.
type Next func(http.ResponseWriter, *http.Request) error
