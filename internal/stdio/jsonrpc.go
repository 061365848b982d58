package stdio

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// JSON-RPC error codes the pool answers with.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInternalError  = -32603
	// codeBusy is the code for a call refused because the queue is full.
	codeBusy = -32000
	// codeRequestTimeout is the code the MCP SDKs use for a request that
	// timed out.
	codeRequestTimeout = -32001
)

// object is a JSON object whose members are kept as raw bytes, so that a
// message can be rewritten member by member.
type object map[string]json.RawMessage

// decodeObject decodes one JSON object.
func decodeObject(data []byte) (object, error) {
	var o object
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, err
	}
	if o == nil {
		return nil, fmt.Errorf("not a json object")
	}
	return o, nil
}

// encode encodes o; it cannot fail for members that were decoded or built
// by this package.
func (o object) encode() []byte {
	b, err := json.Marshal(o)
	if err != nil {
		// Only invalid raw members fail, and none are ever stored.
		panic(fmt.Sprintf("stdio: encoding a message: %v", err))
	}
	return b
}

// str returns member name as a string, or "" when it is absent or not a
// string.
func (o object) str(name string) string {
	var s string
	if raw, ok := o[name]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// withID returns a copy of o whose id is id.
func (o object) withID(id json.RawMessage) object {
	c := make(object, len(o))
	for k, v := range o {
		c[k] = v
	}
	c["id"] = id
	return c
}

// intID encodes a worker-side id.
func intID(n int64) json.RawMessage {
	return strconv.AppendInt(nil, n, 10)
}

// strID encodes a string id or token.
func strID(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// progressToken returns params._meta.progressToken of a request, or nil.
func progressToken(params json.RawMessage) json.RawMessage {
	var p struct {
		Meta struct {
			Token json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil || string(p.Meta.Token) == "null" {
		return nil
	}
	return p.Meta.Token
}

// setMember returns the JSON object raw with member path (nested objects,
// created when missing) set to value. raw may be empty.
func setMember(raw json.RawMessage, value json.RawMessage, path ...string) (json.RawMessage, error) {
	o := object{}
	if len(raw) > 0 && string(raw) != "null" {
		var err error
		if o, err = decodeObject(raw); err != nil {
			return nil, err
		}
	}
	if len(path) == 1 {
		o[path[0]] = value
		return o.encode(), nil
	}
	inner, err := setMember(o[path[0]], value, path[1:]...)
	if err != nil {
		return nil, err
	}
	o[path[0]] = inner
	return o.encode(), nil
}

// member returns member name of the JSON object raw, or nil.
func member(raw json.RawMessage, name string) json.RawMessage {
	o, err := decodeObject(raw)
	if err != nil {
		return nil
	}
	return o[name]
}

// notification encodes a JSON-RPC notification.
func notification(method string, params any) []byte {
	b, _ := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
	}{"2.0", method, params})
	return b
}

// request encodes a JSON-RPC request.
func request(id json.RawMessage, method string, params any) []byte {
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  string          `json:"method"`
		Params  any             `json:"params,omitempty"`
	}{"2.0", id, method, params})
	return b
}

// errorResponse encodes a JSON-RPC error response.
func errorResponse(id json.RawMessage, code int, message string) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, message}})
	return b
}

// resultResponse encodes a JSON-RPC response with result.
func resultResponse(id json.RawMessage, result any) []byte {
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result"`
	}{"2.0", id, result})
	return b
}
