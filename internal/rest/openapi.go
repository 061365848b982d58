package rest

import (
	"net/http"
	"regexp"
)

// operationIDUnsafe matches what an operationId should not hold.
var operationIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// serveOpenAPI answers GET /openapi.json: an OpenAPI 3.1 document with one
// operation per tool (POST /tools/{name}), its request body the tool's input
// schema under "arguments".
func (g *Gateway) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	tools, err := g.listTools(r.Context())
	if err != nil {
		writeError(w, callError(r.Context(), err))
		return
	}
	g.tools.mu.Lock()
	server := g.tools.server
	g.tools.mu.Unlock()
	title, version := "MCP tools", "unknown"
	if server != nil {
		if server.Title != "" {
			title = server.Title
		} else if server.Name != "" {
			title = server.Name
		}
		if server.Version != "" {
			version = server.Version
		}
	}
	errorResponse := func(what string) map[string]any {
		return map[string]any{"description": what, "content": map[string]any{
			"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	paths := map[string]any{}
	for _, t := range tools {
		op := map[string]any{
			"operationId": "call_" + operationIDUnsafe.ReplaceAllString(t.Name, "_"),
			"summary":     firstNonEmpty(t.Title, t.Name),
			"requestBody": map[string]any{
				"required": true,
				"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
					"type":                 "object",
					"properties":           map[string]any{"arguments": t.InputSchema},
					"additionalProperties": false,
				}}},
			},
			"responses": map[string]any{
				"200": map[string]any{"description": "The call ended; a tool error has isError true.",
					"content": map[string]any{"application/json": map[string]any{
						"schema": map[string]any{"$ref": "#/components/schemas/CallResult"}}}},
				"400": errorResponse("The body is not JSON, or the arguments do not fit the input schema."),
				"404": errorResponse("The upstream has no such tool."),
				"413": errorResponse("The body is over the size limit."),
				"502": errorResponse("The upstream failed or cannot be reached."),
				"504": errorResponse("The call ran out of time."),
			},
		}
		if t.Description != "" {
			op["description"] = t.Description
		}
		paths["/tools/"+t.Name] = map[string]any{"post": op}
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": title, "version": version},
		"paths":   paths,
		"components": map[string]any{"schemas": map[string]any{
			"CallResult": map[string]any{
				"type":     "object",
				"required": []string{"content", "isError"},
				"properties": map[string]any{
					"content":           map[string]any{"type": "array", "items": map[string]any{"type": "object"}},
					"structuredContent": map[string]any{},
					"isError":           map[string]any{"type": "boolean"},
				},
			},
			"Error": map[string]any{
				"type":     "object",
				"required": []string{"error"},
				"properties": map[string]any{"error": map[string]any{
					"type":     "object",
					"required": []string{"code", "message"},
					"properties": map[string]any{
						"code":    map[string]any{"type": "string"},
						"message": map[string]any{"type": "string"},
					},
				}},
			},
		}},
	}
	if g.cfg.StripPrefix != "" {
		doc["servers"] = []any{map[string]any{"url": g.cfg.StripPrefix}}
	}
	writeJSON(w, http.StatusOK, doc)
}

// firstNonEmpty returns the first of ss that is not empty.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
