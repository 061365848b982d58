package keepalive

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// BusyMessage is the message of the JSON-RPC error that a call over max_held
// gets, with mcpmsg.CodeServerBusy and HTTP status 503.
const BusyMessage = "too many calls in progress, try again later"

// WriteJSON answers with body, a JSON value, and an HTTP status.
func WriteJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteError answers with a JSON-RPC error response for id (null when empty)
// and an HTTP status.
func WriteError(w http.ResponseWriter, status int, id json.RawMessage, code int, message string) {
	WriteJSON(w, status, mcpmsg.ErrorResponse(id, code, message))
}
