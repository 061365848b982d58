package mcpmsg

import (
	"bytes"
	"encoding/json"
	"errors"
)

// IsBatch reports whether data is a JSON array, that is, a JSON-RPC batch
// (allowed by MCP in revision 2025-03-26 only).
func IsBatch(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && data[0] == '['
}

// ErrEmptyBatch is returned by ParseBatch for an empty array.
var ErrEmptyBatch = errors.New("empty batch")

// ParseBatch classifies the members of a JSON-RPC batch. It fails for data
// that is not a JSON array, and with ErrEmptyBatch for an empty one. A member
// that is not a valid message gets a nil entry in invalid's place: invalid[i]
// reports why member i could not be parsed.
func ParseBatch(data []byte) (msgs []Message, invalid []error, err error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, nil, err
	}
	if len(raws) == 0 {
		return nil, nil, ErrEmptyBatch
	}
	msgs = make([]Message, len(raws))
	invalid = make([]error, len(raws))
	for i, raw := range raws {
		msgs[i], invalid[i] = Parse(raw)
	}
	return msgs, invalid, nil
}

// ParseAny classifies a message or a batch of messages, as they come in an
// SSE event's data or a JSON body. Members that are not valid messages are
// left out.
func ParseAny(data []byte) ([]Message, error) {
	if !IsBatch(data) {
		m, err := Parse(data)
		if err != nil {
			return nil, err
		}
		return []Message{m}, nil
	}
	msgs, invalid, err := ParseBatch(data)
	if err != nil {
		return nil, err
	}
	out := msgs[:0]
	for i, m := range msgs {
		if invalid[i] == nil {
			out = append(out, m)
		}
	}
	return out, nil
}
