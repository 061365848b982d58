package mcpmsg

import (
	"encoding/json"
	"errors"
)

// ProgressParams are the params of a notifications/progress message.
type ProgressParams struct {
	// Token is the raw progressToken.
	Token json.RawMessage
	// Progress is the progress value.
	Progress float64
	// Total is the total, or nil when absent.
	Total *float64
	// Message is the human-readable message, or empty.
	Message string
}

// ParseProgress reads the params of a notifications/progress message.
func ParseProgress(params json.RawMessage) (ProgressParams, error) {
	var p ProgressParams
	var seen bool
	err := eachMember(params, func(key string, raw json.RawMessage) error {
		switch key {
		case "progressToken":
			p.Token = raw
		case "progress":
			seen = true
			return json.Unmarshal(raw, &p.Progress)
		case "total":
			return json.Unmarshal(raw, &p.Total)
		case "message":
			return json.Unmarshal(raw, &p.Message)
		}
		return nil
	})
	if err != nil {
		return ProgressParams{}, err
	}
	if !seen || !validID(p.Token) {
		return ProgressParams{}, errors.New("progress notification without progress or progressToken")
	}
	return p, nil
}
