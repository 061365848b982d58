package runner

import (
	"context"
	"errors"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestAnswersOnlyWhatItAdvertises checks that the runner advertises tools
// only, and refuses the methods of the features it does not advertise with
// method not found, while tools/list works.
func TestAnswersOnlyWhatItAdvertises(t *testing.T) {
	_, url := serve(t, testConfig(t), nil)
	cs := connect(t, url, nil)
	caps := cs.InitializeResult().Capabilities
	if caps.Tools == nil || caps.Logging != nil || caps.Resources != nil || caps.Prompts != nil || caps.Completions != nil {
		t.Fatalf("advertised capabilities %+v", caps)
	}
	ctx := context.Background()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	refused := map[string]error{}
	_, refused["prompts/list"] = cs.ListPrompts(ctx, nil)
	_, refused["resources/list"] = cs.ListResources(ctx, nil)
	_, refused["resources/templates/list"] = cs.ListResourceTemplates(ctx, nil)
	refused["logging/setLevel"] = cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"})
	for method, err := range refused {
		var rpcErr *jsonrpc.Error
		if !errors.As(err, &rpcErr) || rpcErr.Code != jsonrpc.CodeMethodNotFound {
			t.Errorf("%s answered %v, want method not found", method, err)
		}
	}
}
