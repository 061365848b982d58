package tasks

import (
	"encoding/json"
	"fmt"
)

// The 2026-07-28 tasks extension (io.modelcontextprotocol/tasks): the client
// declares it in each request's _meta client capabilities, the server in
// server/discover, and the server decides per call whether to answer with a
// task.
const (
	// ExtensionID names the extension.
	ExtensionID = "io.modelcontextprotocol/tasks"
	// clientCapabilitiesKey is the _meta key of a 2026-07-28 request's
	// client capabilities.
	clientCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
)

// RequestedV2 reports whether a tools/call's params declare the 2026-07-28
// tasks extension in the client capabilities of their _meta.
func RequestedV2(params json.RawMessage) bool {
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return false
	}
	var caps struct {
		Extensions map[string]json.RawMessage `json:"extensions"`
	}
	if json.Unmarshal(p.Meta[clientCapabilitiesKey], &caps) != nil {
		return false
	}
	_, ok := caps.Extensions[ExtensionID]
	return ok
}

// TaskV2 is the JSON shape of a 2026-07-28 task: in a CreateTaskResult
// (ResultType "task"), and in the answer to tasks/get (ResultType
// "complete"), which carries the call's result or error once it is over.
type TaskV2 struct {
	ResultType     string          `json:"resultType"`
	TaskID         string          `json:"taskId"`
	Status         Status          `json:"status"`
	StatusMessage  string          `json:"statusMessage,omitempty"`
	CreatedAt      string          `json:"createdAt"`
	LastUpdatedAt  string          `json:"lastUpdatedAt"`
	TTLMs          int64           `json:"ttlMs"`
	PollIntervalMs int64           `json:"pollIntervalMs,omitempty"`
	Result         json.RawMessage `json:"result,omitempty"`
	Error          json.RawMessage `json:"error,omitempty"`
}

// V2 returns t in the 2026-07-28 shape, with resultType, and, when response
// (the call's JSON-RPC response) is given, its result or error.
func V2(t Task, resultType string, response []byte) (TaskV2, error) {
	v := TaskV2{
		ResultType: resultType, TaskID: t.TaskID, Status: t.Status, StatusMessage: t.StatusMessage,
		CreatedAt: t.CreatedAt, LastUpdatedAt: t.LastUpdatedAt, TTLMs: t.TTL, PollIntervalMs: t.PollInterval,
	}
	if response == nil {
		return v, nil
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(response, &r); err != nil {
		return v, fmt.Errorf("reading the task's response: %w", err)
	}
	v.Result, v.Error = r.Result, r.Error
	return v, nil
}

// Complete is the result of a 2026-07-28 operation that returns nothing.
type Complete struct {
	ResultType string `json:"resultType"`
}

// AdvertiseDiscover returns a server/discover result whose capabilities
// declare the tasks extension, or, when the upstream declares it itself,
// the result unchanged and declared true.
func AdvertiseDiscover(result json.RawMessage) (out json.RawMessage, declared bool, err error) {
	var r map[string]json.RawMessage
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, false, fmt.Errorf("reading the server/discover result: %w", err)
	}
	var caps map[string]json.RawMessage
	if raw, ok := r["capabilities"]; ok {
		if err := json.Unmarshal(raw, &caps); err != nil {
			return nil, false, fmt.Errorf("reading the capabilities: %w", err)
		}
	}
	if caps == nil {
		caps = make(map[string]json.RawMessage)
	}
	var ext map[string]json.RawMessage
	if raw, ok := caps["extensions"]; ok {
		if err := json.Unmarshal(raw, &ext); err != nil {
			return nil, false, fmt.Errorf("reading the extensions: %w", err)
		}
	}
	if _, ok := ext[ExtensionID]; ok {
		return result, true, nil
	}
	if ext == nil {
		ext = make(map[string]json.RawMessage)
	}
	ext[ExtensionID] = json.RawMessage(`{}`)
	caps["extensions"], _ = json.Marshal(ext)
	r["capabilities"], _ = json.Marshal(caps)
	out, err = json.Marshal(r)
	return out, false, err
}
