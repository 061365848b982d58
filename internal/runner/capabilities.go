package runner

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// unoffered are the methods of features that the runner does not advertise
// (it offers tools only) but that the SDK's server would answer anyway, with
// empty lists or a silent success. They are refused, so that what the
// runner answers agrees with what it advertises.
var unoffered = map[string]bool{
	"logging/setLevel":         true,
	"resources/list":           true,
	"resources/templates/list": true,
	"resources/read":           true,
	"resources/subscribe":      true,
	"resources/unsubscribe":    true,
	"prompts/list":             true,
	"prompts/get":              true,
	"completion/complete":      true,
}

// offerOnlyAdvertised is a receiving middleware that answers the methods of
// unoffered features with JSON-RPC's method not found.
func offerOnlyAdvertised(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if unoffered[method] {
			return nil, &jsonrpc.Error{
				Code:    jsonrpc.CodeMethodNotFound,
				Message: fmt.Sprintf("method not found: %s (the Stata runner offers tools only)", method),
			}
		}
		return next(ctx, method, req)
	}
}
