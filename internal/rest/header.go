package rest

import "net/http"

// headerTransport adds fixed headers to every upstream request.
type headerTransport struct {
	header http.Header
	next   http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(t.header) > 0 {
		r = r.Clone(r.Context())
		for k, v := range t.header {
			if k == "Host" {
				r.Host = v[0]
				continue
			}
			r.Header[k] = v
		}
	}
	return t.next.RoundTrip(r)
}
