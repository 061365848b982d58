package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Error codes of the JSON errors, each with its HTTP status in apiError.
const (
	codeBadRequest       = "bad_request"
	codeInvalidArguments = "invalid_arguments"
	codeUnknownTool      = "unknown_tool"
	codeNotFound         = "not_found"
	codeMethod           = "method_not_allowed"
	codeTooLarge         = "request_too_large"
	codeUpstream         = "upstream_error"
	codeUnavailable      = "upstream_unavailable"
	codeTimeout          = "timeout"
	codeCancelled        = "cancelled"
)

// apiError is an error answered as JSON {"error":{"code","message"}} with an
// HTTP status.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns the message.
func (e *apiError) Error() string { return e.Message }

// errorf returns an apiError.
func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// writeJSON answers with v as JSON and an HTTP status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeError answers with err as a JSON error.
func writeError(w http.ResponseWriter, err *apiError) {
	writeJSON(w, err.Status, errorBody{err})
}

// errorBody is the JSON shape of an error answer.
type errorBody struct {
	Error *apiError `json:"error"`
}

// callError turns the error of an upstream call into an apiError. ctx is the
// call's context, whose end tells a timeout or a cancel from a failure.
func callError(ctx context.Context, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, codeTimeout, "the call ran out of time: %v", err)
	case ctx.Err() != nil:
		return errorf(499, codeCancelled, "the call was cancelled")
	}
	var wire *jsonrpc.Error
	if errors.As(err, &wire) && wire.Code != codeRejected {
		if wire.Code == jsonrpc.CodeInvalidParams {
			return errorf(http.StatusBadRequest, codeInvalidArguments, "%s", wire.Message)
		}
		return errorf(http.StatusBadGateway, codeUpstream, "the upstream answered error %d: %s", wire.Code, wire.Message)
	}
	return errorf(http.StatusBadGateway, codeUnavailable, "the upstream failed: %v", err)
}

// codeRejected is the code of the error the SDK's client gives a request that
// did not reach the upstream (refused, reset, or no answer).
const codeRejected = -32005

// retryable reports whether a call that failed with err never reached a live
// session, so that it may run again on a new one: the upstream had lost the
// session (404), the session was already closed, or the request did not
// reach the upstream at all.
func retryable(err error) bool {
	var wire *jsonrpc.Error
	return errors.Is(err, mcp.ErrSessionMissing) || errors.Is(err, mcp.ErrConnectionClosed) ||
		errors.As(err, &wire) && wire.Code == codeRejected
}
