package hold

import "net/http"

// MCP protocol revisions whose rules the handler follows. Revisions are dates,
// so they compare as strings.
const (
	// revDefault is the revision to assume when a client names none.
	revDefault = "2025-03-26"
	// revPolling introduced priming events and SSE polling (SEP-1699).
	revPolling = "2025-11-25"
	// revStateless dropped resumption: closing the stream cancels the call.
	revStateless = "2026-07-28"
)

// revision returns the protocol revision a request names.
func revision(h http.Header) string {
	if v := h.Get("MCP-Protocol-Version"); v != "" {
		return v
	}
	return revDefault
}

// policy is how a held call's stream behaves for the client's revision.
type policy struct {
	ids          bool // events carry ids, and a resumption GET is served
	prime        bool // a priming event comes first
	poll         bool // the connection is closed after PollAfter
	cancelOnGone bool // a client that leaves cancels the call
}

// policyFor returns the stream policy for a client at rev.
func (h *Handler) policyFor(rev string) policy {
	stateless := rev >= revStateless
	ids := h.cfg.Resume > 0 && !stateless
	return policy{
		ids:          ids,
		prime:        ids && rev >= revPolling,
		poll:         ids && rev >= revPolling && h.cfg.PollAfter > 0,
		cancelOnGone: stateless,
	}
}
