package mcpmsg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Method names the handler treats specially.
const (
	MethodToolsCall = "tools/call"
	MethodProgress  = "notifications/progress"
	MethodCancelled = "notifications/cancelled"
)

// Message is what the keep-alive handler needs to know of one JSON-RPC message.
// Raw fields hold the exact bytes of the member's value, or nil when the member
// is absent.
type Message struct {
	// ID is the raw id, for requests and responses.
	ID json.RawMessage
	// Method is the method of a request or notification.
	Method string
	// Params is the raw params member.
	Params json.RawMessage
	// HasResult and HasError tell whether a response member is present.
	HasResult, HasError bool

	// Tool is params.name of a tools/call request.
	Tool string
	// ProgressToken is params._meta.progressToken of a request, or
	// params.progressToken of a progress notification.
	ProgressToken json.RawMessage
	// RequestID is params.requestId of a notifications/cancelled message.
	RequestID json.RawMessage
}

// IsRequest reports whether m is a request: it has a method and an id.
func (m *Message) IsRequest() bool { return m.Method != "" && m.ID != nil }

// IsResponse reports whether m is a response: an id, no method, and a result
// or an error.
func (m *Message) IsResponse() bool {
	return m.Method == "" && m.ID != nil && (m.HasResult || m.HasError)
}

// IsToolCall reports whether m is a tools/call request naming a tool.
func (m *Message) IsToolCall() bool {
	return m.IsRequest() && m.Method == MethodToolsCall && m.Tool != ""
}

// errNotObject is returned for a body whose top level is not a JSON object.
var errNotObject = errors.New("not a json object")

// Parse classifies one JSON-RPC message. Member names are matched exactly (JSON
// is case-sensitive, unlike encoding/json's struct decoding). It fails for
// anything that is not a single well-formed JSON object, and for an id that is
// neither a string nor a number.
func Parse(data []byte) (Message, error) {
	var m Message
	err := eachMember(data, func(key string, raw json.RawMessage) error {
		switch key {
		case "id":
			m.ID = raw
		case "method":
			return unmarshalString(raw, &m.Method)
		case "params":
			m.Params = raw
		case "result":
			m.HasResult = true
		case "error":
			m.HasError = true
		}
		return nil
	})
	if err != nil {
		return Message{}, err
	}
	if m.ID != nil && !validID(m.ID) {
		return Message{}, fmt.Errorf("id %s is neither a string nor a number", m.ID)
	}
	switch m.Method {
	case MethodToolsCall:
		err = m.parseToolCallParams()
	case MethodProgress:
		m.ProgressToken, err = idMember(m.Params, "progressToken")
	case MethodCancelled:
		m.RequestID, err = idMember(m.Params, "requestId")
	}
	if err != nil {
		return Message{}, fmt.Errorf("%s params: %w", m.Method, err)
	}
	return m, nil
}

// parseToolCallParams reads params.name and params._meta.progressToken.
func (m *Message) parseToolCallParams() error {
	if m.Params == nil {
		return nil
	}
	return members(m.Params, func(key string, raw json.RawMessage) (err error) {
		switch key {
		case "name":
			return unmarshalString(raw, &m.Tool)
		case "_meta":
			if !bytes.Equal(raw, []byte("null")) {
				m.ProgressToken, err = idMember(raw, "progressToken")
			}
		}
		return err
	})
}

// idMember returns the member key of the JSON object obj when it is a string
// or a number (an id or a progress token), or nil; it fails when obj is not
// an object. A nil obj has no members. obj must be valid JSON: a value that
// Parse took from a message it validated.
func idMember(obj json.RawMessage, key string) (json.RawMessage, error) {
	if obj == nil {
		return nil, nil
	}
	var id json.RawMessage
	err := members(obj, func(k string, raw json.RawMessage) error {
		if k == key && validID(raw) {
			id = raw
		}
		return nil
	})
	return id, err
}

// eachMember calls fn for every member of the JSON object in data, in order,
// with the member's exact raw value, a slice of data. It fails if data is not
// exactly one valid JSON object. It validates data once and then only slices
// it, so that a large member (a tool's result) is never copied.
func eachMember(data []byte, fn func(key string, raw json.RawMessage) error) error {
	if !json.Valid(data) {
		return errInvalidJSON
	}
	return members(data, fn)
}

// members is eachMember for data that is known to be valid JSON (a member of
// an object that eachMember validated), so that nested objects are not
// validated again.
func members(data []byte, fn func(key string, raw json.RawMessage) error) error {
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return errNotObject
	}
	i = skipSpace(data, i+1)
	for data[i] != '}' {
		end := skipString(data, i)
		key, err := unquote(data[i:end])
		if err != nil {
			return err
		}
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // the colon
		start := i
		i = skipValue(data, i)
		if err := fn(key, data[start:i]); err != nil {
			return fmt.Errorf("member %q: %w", key, err)
		}
		i = skipSpace(data, i)
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return nil
}

// errInvalidJSON is returned for data that is not valid JSON.
var errInvalidJSON = errors.New("invalid json")

// The scanners below work on JSON that json.Valid accepted, so they need not
// check what they skip.

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the index just past the string that starts at i.
func skipString(data []byte, i int) int {
	for i++; data[i] != '"'; i++ {
		if data[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// skipValue returns the index just past the value that starts at i.
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for ; i < len(data); i++ {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// unquote returns the value of a JSON string, without allocating beyond the
// result when it has no escapes.
func unquote(quoted []byte) (string, error) {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted[1 : len(quoted)-1]), nil
	}
	var s string
	err := json.Unmarshal(quoted, &s)
	return s, err
}

// unmarshalString is json.Unmarshal into a string, without its reflection
// for the common string of valid UTF-8 with no escapes.
func unmarshalString(raw []byte, s *string) error {
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		*s = string(raw[1 : len(raw)-1])
		return nil
	}
	return json.Unmarshal(raw, s)
}

// validID reports whether raw is a JSON string or number, the types an MCP id or
// progress token may have.
func validID(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	c := raw[0]
	return c == '"' || c == '-' || (c >= '0' && c <= '9')
}
