package legacy

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// sessionQueryKeys are the query parameters that carry a legacy session's id:
// the TypeScript SDK's sessionId and the Python SDK's session_id.
var sessionQueryKeys = [...]string{"sessionId", "session_id"}

// sessionFromQuery returns the session id in a raw query, or "" when there is
// none.
func sessionFromQuery(rawQuery string) string {
	// The substring test keeps query parsing off the path of every other
	// request.
	if !strings.Contains(rawQuery, "ession") {
		return ""
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil && len(q) == 0 {
		return ""
	}
	for _, k := range sessionQueryKeys {
		if id := q.Get(k); id != "" {
			return id
		}
	}
	return ""
}

// endpoint is the message URL that a legacy session's endpoint event names.
type endpoint struct {
	// session is the session id of the URL's query.
	session string
	// data is the endpoint event's data to send to the client: the upstream's
	// own, or the URL rewritten to keep the client on this proxy.
	data string
	// rewritten tells whether data differs from the upstream's.
	rewritten bool
}

// parseEndpoint reads an endpoint event's data, the URL to POST messages to,
// for a client that opened the stream with r. It fails, returning false, when
// the data is not a URL with a session id in its query.
//
// A relative URL is resolved by the client against the URL of its GET, which
// reached this proxy, so it is left as it is. So is an absolute URL for the
// host the client asked for. An absolute URL for another host (the upstream's
// own address, say) would take the client's POSTs past the proxy, and is
// rewritten to its path, query and fragment, with the query's bytes, and so
// the session id, unchanged.
func parseEndpoint(data string, r *http.Request) (endpoint, bool) {
	u, err := url.Parse(strings.TrimSpace(data))
	if err != nil {
		return endpoint{}, false
	}
	ep := endpoint{session: sessionFromQuery(u.RawQuery), data: data}
	if ep.session == "" {
		return endpoint{}, false
	}
	if u.Host == "" || sameHost(u, r) {
		return ep, true
	}
	rel := &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery, Fragment: u.Fragment, RawFragment: u.RawFragment}
	if rel.Path == "" {
		rel.Path = "/"
	}
	ep.data, ep.rewritten = rel.String(), true
	return ep, true
}

// sameHost reports whether u names the host and port that r was sent to, each
// with its scheme's default port made explicit. When in doubt (behind a TLS
// terminator the schemes differ, say) the answer is no, and the URL is
// rewritten, which is always safe: a relative URL keeps the client on the
// origin of its GET.
func sameHost(u *url.URL, r *http.Request) bool {
	return strings.EqualFold(hostPort(u.Host, u.Scheme), hostPort(r.Host, requestScheme(r)))
}

// requestScheme returns the scheme the request arrived with.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// hostPort returns host with the scheme's default port made explicit.
func hostPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if strings.EqualFold(scheme, "https") {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}
