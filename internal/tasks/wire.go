package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The task methods served on behalf of the upstream.
const (
	MethodGet    = "tasks/get"
	MethodResult = "tasks/result"
	MethodList   = "tasks/list"
	MethodCancel = "tasks/cancel"
)

// IsMethod reports whether method is one of the task methods.
func IsMethod(method string) bool {
	switch method {
	case MethodGet, MethodResult, MethodList, MethodCancel:
		return true
	}
	return false
}

// Params are the params of a task method that this package reads.
type Params struct {
	TaskID string `json:"taskId"`
	Cursor string `json:"cursor"`
}

// ParseParams reads the params of a task method; absent params are empty.
func ParseParams(raw json.RawMessage) (Params, error) {
	var p Params
	if len(raw) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("reading task params: %w", err)
	}
	return p, nil
}

// errNoTask is returned by Strip for a request that asks for no task.
var errNoTask = errors.New("no task requested")

// Strip reads the params.task of a tools/call request body and returns the
// body the upstream gets instead: the same request without params.task, and
// with the progress token token when it had none, so that the upstream's
// progress becomes the task's status message. ttl is the requested time to
// live in milliseconds, 0 when none was given. It fails when the request
// asks for no task.
func Strip(body []byte, token string) (upstream []byte, ttl int64, err error) {
	return prepare(body, token, true)
}

// WithToken returns a tools/call request body with the progress token token
// when it had none, as Strip does, for a 2026-07-28 call, which asks for a
// task in its client capabilities rather than in params.task.
func WithToken(body []byte, token string) ([]byte, error) {
	up, _, err := prepare(body, token, false)
	return up, err
}

// prepare is Strip, and WithToken when needTask is false.
func prepare(body []byte, token string, needTask bool) (upstream []byte, ttl int64, err error) {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, 0, fmt.Errorf("reading request: %w", err)
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(msg["params"], &params); err != nil {
		return nil, 0, fmt.Errorf("reading params: %w", err)
	}
	raw, ok := params["task"]
	if needTask && (!ok || string(raw) == "null") {
		return nil, 0, errNoTask
	}
	if needTask {
		var task struct {
			TTL *float64 `json:"ttl"`
		}
		if err := json.Unmarshal(raw, &task); err != nil {
			return nil, 0, fmt.Errorf("reading params.task: %w", err)
		}
		if task.TTL != nil && *task.TTL > 0 {
			ttl = int64(*task.TTL)
		}
		delete(params, "task")
	}
	var meta map[string]json.RawMessage
	if raw, ok := params["_meta"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, 0, fmt.Errorf("reading params._meta: %w", err)
		}
	}
	if _, ok := meta["progressToken"]; !ok {
		if meta == nil {
			meta = make(map[string]json.RawMessage)
		}
		meta["progressToken"], _ = json.Marshal(token)
		params["_meta"], _ = json.Marshal(meta)
	}
	if msg["params"], err = json.Marshal(params); err != nil {
		return nil, 0, err
	}
	upstream, err = json.Marshal(msg)
	return upstream, ttl, err
}

// Requested reports whether a tools/call's params ask for a task.
func Requested(params json.RawMessage) bool {
	var p struct {
		Task json.RawMessage `json:"task"`
	}
	return json.Unmarshal(params, &p) == nil && len(p.Task) > 0 && string(p.Task) != "null"
}

// CodeInvalidParams is the JSON-RPC code of an unknown, expired or
// finished task, and of a bad cursor.
const CodeInvalidParams = -32602

// Response returns the JSON-RPC response with id and result.
func Response(id json.RawMessage, result any) []byte {
	b, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result"`
	}{"2.0", id, result})
	if err != nil {
		// The shapes of this package always marshal.
		panic(err)
	}
	return b
}

// CreateResult is the result of a tools/call that created a task.
type CreateResult struct {
	Task Task `json:"task"`
}

// ListResult is the result of tasks/list.
type ListResult struct {
	Tasks      []Task `json:"tasks"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// Payload returns the answer to tasks/result, whose request id is id, from
// response, the call's own JSON-RPC response: the same result or error with
// id, the result carrying the related-task _meta of taskID.
func Payload(response []byte, id json.RawMessage, taskID string) ([]byte, error) {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(response, &msg); err != nil {
		return nil, fmt.Errorf("reading the task's response: %w", err)
	}
	msg["id"] = id
	if raw, ok := msg["result"]; ok {
		var result map[string]json.RawMessage
		if err := json.Unmarshal(raw, &result); err != nil {
			return nil, fmt.Errorf("reading the task's result: %w", err)
		}
		var meta map[string]json.RawMessage
		if m, ok := result["_meta"]; ok {
			if err := json.Unmarshal(m, &meta); err != nil {
				return nil, fmt.Errorf("reading the task's result _meta: %w", err)
			}
		}
		if meta == nil {
			meta = make(map[string]json.RawMessage)
		}
		related, _ := json.Marshal(map[string]string{"taskId": taskID})
		meta[RelatedTaskKey] = related
		result["_meta"], _ = json.Marshal(meta)
		msg["result"], _ = json.Marshal(result)
	}
	return json.Marshal(msg)
}

// ProgressMessage returns the message of a notifications/progress, if data
// is one that has a message.
func ProgressMessage(data []byte) (string, bool) {
	var n struct {
		Method string `json:"method"`
		Params struct {
			Message string `json:"message"`
		} `json:"params"`
	}
	if json.Unmarshal(data, &n) != nil || n.Method != "notifications/progress" || n.Params.Message == "" {
		return "", false
	}
	return n.Params.Message, true
}
