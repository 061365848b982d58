// Package mcpmsg classifies JSON-RPC messages as MCP uses them, keeping ids and
// progress tokens as the raw bytes the peer sent, so that they can be echoed back
// unchanged.
package mcpmsg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
			return json.Unmarshal(raw, &m.Method)
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
		err = m.parseProgressParams()
	case MethodCancelled:
		err = m.parseCancelledParams()
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
	return eachMember(m.Params, func(key string, raw json.RawMessage) error {
		switch key {
		case "name":
			return json.Unmarshal(raw, &m.Tool)
		case "_meta":
			if bytes.Equal(raw, []byte("null")) {
				return nil
			}
			return eachMember(raw, func(key string, raw json.RawMessage) error {
				if key == "progressToken" && validID(raw) {
					m.ProgressToken = raw
				}
				return nil
			})
		}
		return nil
	})
}

// parseProgressParams reads params.progressToken of a progress notification.
func (m *Message) parseProgressParams() error {
	if m.Params == nil {
		return nil
	}
	return eachMember(m.Params, func(key string, raw json.RawMessage) error {
		if key == "progressToken" && validID(raw) {
			m.ProgressToken = raw
		}
		return nil
	})
}

// parseCancelledParams reads params.requestId of a cancellation.
func (m *Message) parseCancelledParams() error {
	if m.Params == nil {
		return nil
	}
	return eachMember(m.Params, func(key string, raw json.RawMessage) error {
		if key == "requestId" && validID(raw) {
			m.RequestID = raw
		}
		return nil
	})
}

// eachMember calls fn for every member of the JSON object in data, in order,
// with the member's exact raw value. It fails if data is not exactly one object.
func eachMember(data []byte, fn func(key string, raw json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errNotObject
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		start := dec.InputOffset()
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
		// Slice the input rather than keep the decoder's copy: the bytes are
		// the peer's own, and no allocation is made for them.
		raw := bytes.TrimLeft(data[start:dec.InputOffset()], " \t\r\n:")
		if err := fn(key, raw); err != nil {
			return fmt.Errorf("member %q: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the json object")
	}
	return nil
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
