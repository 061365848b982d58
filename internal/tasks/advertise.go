package tasks

import (
	"encoding/json"
	"fmt"
)

// capability is the tasks capability offered for an upstream that has none:
// tasks/list, tasks/cancel, and task-augmented tools/call.
var capability = json.RawMessage(`{"list":{},"cancel":{},"requests":{"tools":{"call":{}}}}`)

// AdvertiseInitialize returns an initialize result with the tasks
// capability added, or, when the upstream declares tasks of its own, the
// result unchanged and declared true.
func AdvertiseInitialize(result json.RawMessage) (out json.RawMessage, declared bool, err error) {
	var r map[string]json.RawMessage
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, false, fmt.Errorf("reading the initialize result: %w", err)
	}
	var caps map[string]json.RawMessage
	if raw, ok := r["capabilities"]; ok {
		if err := json.Unmarshal(raw, &caps); err != nil {
			return nil, false, fmt.Errorf("reading the capabilities: %w", err)
		}
	}
	if _, ok := caps["tasks"]; ok {
		return result, true, nil
	}
	if caps == nil {
		caps = make(map[string]json.RawMessage)
	}
	caps["tasks"] = capability
	r["capabilities"], _ = json.Marshal(caps)
	out, err = json.Marshal(r)
	return out, false, err
}

// AdvertiseTools returns a tools/list result in which every tool for which
// held reports true has execution.taskSupport "optional", unless it says
// "optional" or "required" itself. A "forbidden" is replaced: it says that
// the upstream makes no tasks of its calls (the TypeScript SDK's McpServer
// stamps it on every tool of a server without tasks), which is the case in
// which caddy-stata makes them.
func AdvertiseTools(result json.RawMessage, held func(name string) bool) (json.RawMessage, error) {
	var r map[string]json.RawMessage
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, fmt.Errorf("reading the tools/list result: %w", err)
	}
	var tools []map[string]json.RawMessage
	if err := json.Unmarshal(r["tools"], &tools); err != nil {
		return nil, fmt.Errorf("reading the tools: %w", err)
	}
	for _, tool := range tools {
		var name string
		if json.Unmarshal(tool["name"], &name) != nil || !held(name) {
			continue
		}
		var exec map[string]json.RawMessage
		if raw, ok := tool["execution"]; ok {
			if json.Unmarshal(raw, &exec) != nil {
				continue
			}
		}
		var support string
		if json.Unmarshal(exec["taskSupport"], &support) == nil && (support == "optional" || support == "required") {
			continue
		}
		if exec == nil {
			exec = make(map[string]json.RawMessage)
		}
		exec["taskSupport"] = json.RawMessage(`"optional"`)
		tool["execution"], _ = json.Marshal(exec)
	}
	r["tools"], _ = json.Marshal(tools)
	return json.Marshal(r)
}

// RewriteResult returns the JSON-RPC message msg with its result passed
// through fn when it is the response with id id; otherwise msg and false.
func RewriteResult(msg []byte, id json.RawMessage, same func(a, b json.RawMessage) bool, fn func(json.RawMessage) (json.RawMessage, error)) ([]byte, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(msg, &m) != nil {
		return msg, false
	}
	result, ok := m["result"]
	if !ok || !same(m["id"], id) {
		return msg, false
	}
	result, err := fn(result)
	if err != nil {
		return msg, false
	}
	m["result"] = result
	out, err := json.Marshal(m)
	if err != nil {
		return msg, false
	}
	return out, true
}
