package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// callBody is the JSON shape of a call's request body.
type callBody struct {
	Arguments map[string]any `json:"arguments"`
}

// readArguments reads a call's body, {"arguments": {...}}, within the size
// limit. An empty body means no arguments.
func (g *Gateway) readArguments(w http.ResponseWriter, r *http.Request) (map[string]any, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxRequestBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "the request body is over %d bytes", g.cfg.MaxRequestBody)
		}
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "reading the request body: %v", err)
	}
	return parseArguments(body)
}

// parseArguments reads {"arguments": {...}}; unknown members are refused so
// that arguments sent bare, without the wrapper, are not silently dropped.
func parseArguments(body []byte) (map[string]any, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var cb callBody
	if err := dec.Decode(&cb); err != nil {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, `the body must be a JSON object {"arguments": {...}}: %v`, err)
	}
	if dec.More() {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "the body holds more than one JSON value")
	}
	if cb.Arguments == nil {
		cb.Arguments = map[string]any{}
	}
	return cb.Arguments, nil
}

// prepare finds the tool and checks the arguments against its schema.
func (g *Gateway) prepare(r *http.Request, name string, args map[string]any) (*call, *apiError) {
	info, err := g.lookup(r.Context(), name)
	if err != nil {
		return nil, callError(r.Context(), err)
	}
	if ae := info.validate(args); ae != nil {
		return nil, ae
	}
	return &call{tool: info, args: args, start: time.Now()}, nil
}

// begin reads the arguments of a call of the tool name and prepares it. A
// call that cannot start (a bad body, an unknown tool, invalid arguments)
// gets its JSON error, and begin returns nil.
func (g *Gateway) begin(w http.ResponseWriter, r *http.Request, name string) *call {
	args, ae := g.readArguments(w, r)
	if ae != nil {
		writeError(w, ae)
		return nil
	}
	c, ae := g.prepare(r, name, args)
	if ae != nil {
		writeError(w, ae)
		return nil
	}
	return c
}

// serveCall answers POST /tools/{name} when the call ends: its result (a
// tool error too) with 200, or a JSON error.
func (g *Gateway) serveCall(w http.ResponseWriter, r *http.Request, name string) {
	c := g.begin(w, r, name)
	if c == nil {
		return
	}
	res, err := g.run(r.Context(), c)
	if err != nil {
		writeError(w, callError(r.Context(), err))
		return
	}
	writeJSON(w, http.StatusOK, newCallResult(res))
}
