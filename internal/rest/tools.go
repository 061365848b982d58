package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// toolInfo is one upstream tool with its input schema made ready to
// validate arguments.
type toolInfo struct {
	tool *mcp.Tool
	// schema validates arguments; nil when the schema could not be resolved
	// (then the upstream alone judges the arguments).
	schema *jsonschema.Resolved
}

// toolCache holds the upstream's tools as last listed, so that a call costs
// one upstream request. It is refreshed by GET /tools, by a tool the cache
// does not know, and when the upstream says its list changed.
type toolCache struct {
	mu     sync.Mutex
	byName map[string]*toolInfo
	list   []*mcp.Tool
	server *mcp.Implementation
	stale  bool
}

// invalidate makes the next lookup list the tools again.
func (c *toolCache) invalidate() {
	c.mu.Lock()
	c.stale = true
	c.mu.Unlock()
}

// listTools lists every page of the upstream's tools and refreshes the cache.
func (g *Gateway) listTools(ctx context.Context) ([]*mcp.Tool, error) {
	var tools []*mcp.Tool
	var server *mcp.Implementation
	err := g.withSession(ctx, func(s *session) error {
		tools = tools[:0]
		for tool, err := range s.cs.Tools(ctx, nil) {
			if err != nil {
				return err
			}
			tools = append(tools, tool)
		}
		server = s.cs.InitializeResult().ServerInfo
		return nil
	})
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*toolInfo, len(tools))
	for _, t := range tools {
		byName[t.Name] = &toolInfo{tool: t, schema: resolveSchema(t.InputSchema)}
	}
	g.tools.mu.Lock()
	g.tools.byName, g.tools.list, g.tools.server, g.tools.stale = byName, tools, server, false
	g.tools.mu.Unlock()
	return tools, nil
}

// lookup returns the tool called name, listing the tools again when the
// cache is empty, stale or does not know it.
func (g *Gateway) lookup(ctx context.Context, name string) (*toolInfo, error) {
	g.tools.mu.Lock()
	info, fresh := g.tools.byName[name], g.tools.byName != nil && !g.tools.stale
	g.tools.mu.Unlock()
	if info != nil && fresh {
		return info, nil
	}
	if _, err := g.listTools(ctx); err != nil {
		return nil, callError(ctx, err)
	}
	g.tools.mu.Lock()
	info = g.tools.byName[name]
	g.tools.mu.Unlock()
	if info == nil {
		return nil, errorf(http.StatusNotFound, codeUnknownTool, "the upstream has no tool %q", name)
	}
	return info, nil
}

// resolveSchema makes a tool's input schema ready to validate, or returns
// nil when it cannot.
func resolveSchema(schema any) *jsonschema.Resolved {
	raw, err := json.Marshal(schema)
	if err != nil {
		return nil
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil
	}
	// The validator knows draft-07 and 2020-12 only; the schemas of tools
	// are plain enough to be read as 2020-12 whatever they claim.
	s.Schema = ""
	rs, err := s.Resolve(nil)
	if err != nil {
		return nil
	}
	return rs
}

// validate checks args against the tool's input schema.
func (t *toolInfo) validate(args map[string]any) *apiError {
	if t.schema == nil {
		return nil
	}
	if err := t.schema.Validate(args); err != nil {
		return errorf(http.StatusBadRequest, codeInvalidArguments, "invalid arguments for %s: %v", t.tool.Name, err)
	}
	return nil
}
