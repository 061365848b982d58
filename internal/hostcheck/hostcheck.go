// Package hostcheck guards an MCP endpoint against DNS rebinding and
// cross-origin requests, in plain net/http: a Policy checks the Host and
// Origin headers of a request before anything else is done with it, as the
// MCP specification requires of a server ("Servers MUST validate the Origin
// header on all incoming connections to prevent DNS rebinding attacks. If the
// Origin header is present and invalid, servers MUST respond with HTTP 403
// Forbidden.").
//
// A proxy in front of an MCP server must do this check itself: the server
// sees the Host the proxy sends, which for a server on localhost is rewritten
// to the server's own (Caddy's header_up Host {upstream_hostport}), so the
// server's own check can no longer refuse a rebound name.
package hostcheck

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// Any is the host pattern that allows every host and every origin: it turns
// the check off.
const Any = "*"

// A Policy decides which Host and Origin headers a request may carry. Its
// zero value, like New(nil, nil), is the default policy:
//
//   - A request that arrived on a loopback address (the local address of its
//     TCP connection, whatever the listener is bound to) must name a loopback
//     host: localhost, 127.0.0.1 (any of 127.0.0.0/8) or [::1], with any
//     port. An Origin, when present, must name a loopback host too, or match
//     an allowed origin. This is the DNS-rebinding guard: a page of
//     evil.example.com whose name was rebound to 127.0.0.1 sends Host and
//     Origin with evil.example.com.
//   - Any other request (one on a public or private address, a Unix socket,
//     or a connection whose local address is unknown) may name any host:
//     the server's site address already restricts it. An Origin, when
//     present, must name the same host as the Host header (scheme and port
//     aside), or match an allowed origin; a browser page of another site is
//     refused.
//
// With allowed hosts, a request must name one of them, whatever its local
// address, and an Origin, when present, must name one of them or match an
// allowed origin. The single pattern Any allows everything.
type Policy struct {
	off     bool
	hosts   []hostPattern // nil: the default
	origins []string      // lower case
}

// New returns the Policy for the given host and origin patterns; none of
// either gives the default.
//
// A host pattern is a host name pattern in path.Match syntax, compared with
// the name in lower case (`localhost`, `*.example.com`, `10.0.0.*`), or an
// IPv6 address in brackets (`[::1]`), either optionally followed by a colon
// and a port pattern (`localhost:8080`). Without a port, any port matches;
// with one, a Host without a port has its scheme's default port. `*` alone
// allows every host and turns the check off; it may not be combined with
// other host patterns or with origin patterns.
//
// An origin pattern is matched in path.Match syntax against the whole
// origin in lower case, `https://*.example.com` or `http://localhost:6274`;
// `*` alone matches every origin, and `null` the Origin that browsers send
// from sandboxed pages and files.
func New(hosts, origins []string) (*Policy, error) {
	p := &Policy{}
	for _, h := range hosts {
		if h == Any {
			if len(hosts) > 1 || len(origins) > 0 {
				return nil, errors.New("allowed_hosts: '*' turns the check off, and cannot be combined with other hosts or with allowed_origins")
			}
			p.off = true
			return p, nil
		}
		hp, err := parseHostPattern(h)
		if err != nil {
			return nil, fmt.Errorf("allowed_hosts: %w", err)
		}
		p.hosts = append(p.hosts, hp)
	}
	for _, o := range origins {
		if err := ValidateOrigin(o); err != nil {
			return nil, fmt.Errorf("allowed_origins: %w", err)
		}
		p.origins = append(p.origins, strings.ToLower(o))
	}
	return p, nil
}

// ValidateHost reports whether pattern is a valid host pattern (see New);
// Any is one.
func ValidateHost(pattern string) error {
	if pattern == Any {
		return nil
	}
	_, err := parseHostPattern(pattern)
	return err
}

// ValidateOrigin reports whether pattern is a valid origin pattern (see New).
func ValidateOrigin(pattern string) error {
	if pattern == "" {
		return errors.New("empty origin pattern")
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("bad origin pattern '%s': %v", pattern, err)
	}
	return nil
}

// A RefusedError is the reason a request was refused: the header, Host or
// Origin, and the value it carried.
type RefusedError struct {
	Header string
	Value  string
}

// Error implements error.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s %s is not allowed", strings.ToLower(e.Header), strconv.Quote(e.Value))
}

// Check returns nil if the request may go on, and otherwise a *RefusedError.
func (p *Policy) Check(r *http.Request) error {
	if p.off {
		return nil
	}
	loopback := onLoopback(r)
	name, port := splitHost(r.Host, schemePort(r))
	switch {
	case p.hosts != nil:
		if !p.matchHost(name, port) {
			return &RefusedError{Header: "Host", Value: r.Host}
		}
	case loopback:
		if !isLoopbackName(name) {
			return &RefusedError{Header: "Host", Value: r.Host}
		}
	}
	for _, origin := range r.Header.Values("Origin") {
		if origin == "" || p.originAllowed(origin, name, loopback) {
			continue
		}
		return &RefusedError{Header: "Origin", Value: origin}
	}
	return nil
}

// originAllowed reports whether the Origin header value origin may come with
// a request for host name on a loopback connection or not.
func (p *Policy) originAllowed(origin, name string, loopback bool) bool {
	lower := strings.ToLower(origin)
	for _, o := range p.origins {
		if o == Any {
			return true
		}
		if ok, _ := path.Match(o, lower); ok {
			return true
		}
	}
	u, err := url.Parse(lower)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false // "null" or a value that is not an origin
	}
	oname, oport := splitHost(u.Host, defaultPort(u.Scheme))
	switch {
	case p.hosts != nil:
		return p.matchHost(oname, oport)
	case loopback:
		return isLoopbackName(oname)
	default:
		return oname != "" && oname == name
	}
}

// matchHost reports whether one of the allowed hosts matches name and port.
func (p *Policy) matchHost(name, port string) bool {
	for _, h := range p.hosts {
		if h.match(name, port) {
			return true
		}
	}
	return false
}

// WriteRefusal answers a refused request: 403 with a JSON-RPC error, of code
// mcpmsg.CodeInvalidRequest and no id, whose message is err's.
func WriteRefusal(w http.ResponseWriter, err error) {
	body := mcpmsg.ErrorResponse(nil, mcpmsg.CodeInvalidRequest, "forbidden: "+err.Error())
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write(body)
}

// hostPattern is one parsed allowed host.
type hostPattern struct {
	name string     // a path.Match pattern of the lower-case name, if ip is not valid
	ip   netip.Addr // an IPv6 address given in brackets
	port string     // a path.Match pattern of the port; "" matches any
}

// parseHostPattern parses one host pattern (see New).
func parseHostPattern(s string) (hostPattern, error) {
	var hp hostPattern
	if s == "" {
		return hp, errors.New("empty host pattern")
	}
	rest := strings.ToLower(s)
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return hp, fmt.Errorf("bad host pattern '%s': no ']' after the IPv6 address", s)
		}
		ip, err := netip.ParseAddr(rest[1:end])
		if err != nil || !ip.Is6() {
			return hp, fmt.Errorf("bad host pattern '%s': not an IPv6 address in brackets", s)
		}
		hp.ip = ip.WithZone("")
		rest = rest[end+1:]
		if rest != "" && !strings.HasPrefix(rest, ":") {
			return hp, fmt.Errorf("bad host pattern '%s': need a ':' before the port", s)
		}
		if rest != "" {
			hp.port = rest[1:]
			if hp.port == "" {
				return hp, fmt.Errorf("bad host pattern '%s': empty port", s)
			}
		}
	} else {
		if strings.Count(rest, ":") > 1 {
			return hp, fmt.Errorf("bad host pattern '%s': put an IPv6 address in brackets, as in [::1]", s)
		}
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			rest, hp.port = rest[:i], rest[i+1:]
			if hp.port == "" {
				return hp, fmt.Errorf("bad host pattern '%s': empty port", s)
			}
		}
		hp.name = strings.TrimSuffix(rest, ".")
		if hp.name == "" {
			return hp, fmt.Errorf("bad host pattern '%s': empty host name", s)
		}
		if _, err := path.Match(hp.name, ""); err != nil {
			return hp, fmt.Errorf("bad host pattern '%s': %v", s, err)
		}
	}
	if hp.port != "" {
		if _, err := path.Match(hp.port, ""); err != nil {
			return hp, fmt.Errorf("bad host pattern '%s': %v", s, err)
		}
	}
	return hp, nil
}

// match reports whether the pattern matches host name and port, as
// splitHost returns them.
func (h hostPattern) match(name, port string) bool {
	if h.ip.IsValid() {
		ip, err := netip.ParseAddr(name)
		if err != nil || ip.WithZone("") != h.ip {
			return false
		}
	} else if ok, _ := path.Match(h.name, name); !ok {
		return false
	}
	if h.port == "" {
		return true
	}
	ok, _ := path.Match(h.port, port)
	return ok
}

// splitHost splits a Host header (or an origin's host) into its name, in
// lower case without brackets or a final dot, and its port, which is
// defPort when it has none.
func splitHost(host, defPort string) (name, port string) {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, defPort
	}
	name = strings.TrimSuffix(strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")), ".")
	return name, port
}

// isLoopbackName reports whether name, as splitHost returns it, is
// localhost or a loopback address.
func isLoopbackName(name string) bool {
	if name == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(name)
	return err == nil && ip.Unmap().IsLoopback()
}

// onLoopback reports whether the request arrived on a loopback address, by
// the local address net/http (and Caddy's HTTP/3 server) put in its
// context.
func onLoopback(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || addr == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(addr.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// schemePort is the default port of the request's scheme.
func schemePort(r *http.Request) string {
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// defaultPort is the default port of an origin's scheme, or "" for a scheme
// without one.
func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}
