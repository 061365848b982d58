package keepalive

import (
	"encoding/json"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

// Call is one JSON-RPC request that is kept alive until its response: a
// tools/call, or a request of a held batch. Its methods are not safe for
// concurrent use; the transport guards it.
type Call struct {
	// ID is the request's id, as the client sent it.
	ID json.RawMessage
	// Token is params._meta.progressToken, or nil.
	Token json.RawMessage
	// Tool is the tool's name, for a tools/call.
	Tool string
	// Start is when the call began.
	Start time.Time
	// Answered tells that the call has its response (or error).
	Answered bool

	prog mcpmsg.ProgressSeq
}

// NewCall returns the record of request m, begun at start.
func NewCall(m *mcpmsg.Message, start time.Time) *Call {
	return &Call{ID: m.ID, Token: m.ProgressToken, Tool: m.Tool, Start: start}
}

// Tick is one keep-alive for the call at now. It returns the progress
// notification to send when the client asked for progress (a token), progress
// is on, the call awaits its response and the upstream sent no progress of
// its own since the last tick; otherwise nil. upstream tells whether the
// upstream sent progress since the last tick (which kept the bytes flowing).
func (c *Call) Tick(progressOn bool, now time.Time) (note []byte, upstream bool) {
	upstream = c.prog.Upstream
	c.prog.Upstream = false
	if c.Token == nil || c.Answered || !progressOn || upstream {
		return nil, upstream
	}
	name := c.Tool
	if name == "" {
		name = "request"
	}
	progress, total := c.prog.Invent()
	return mcpmsg.Progress(c.Token, progress, total, InventedMessage(name, now.Sub(c.Start), c.prog.Message)), false
}

// InventedMessage is the message of an invented progress notification for
// the call of tool that has run for elapsed: how long it has run, and the
// message of the upstream's own last progress, if it sent any, so that a
// client keeps showing what the server last said it was doing.
func InventedMessage(tool string, elapsed time.Duration, last string) string {
	msg := tool + ": running for " + elapsed.Round(time.Second).String()
	if last != "" {
		msg += " (last progress: " + last + ")"
	}
	return msg
}

// FromUpstream passes the upstream's own progress notification for the call's
// token through the call's progress state, so that progress keeps increasing
// strictly. It returns the notification to send instead when the values had
// to be shifted, and nil when the upstream's may pass unchanged.
func (c *Call) FromUpstream(pp *mcpmsg.ProgressParams) []byte {
	if !c.prog.FromUpstream(pp) {
		return nil
	}
	return mcpmsg.Progress(pp.Token, pp.Progress, pp.Total, pp.Message)
}

// HasToken reports whether token is the call's progress token.
func (c *Call) HasToken(token json.RawMessage) bool {
	return c.Token != nil && mcpmsg.SameID(c.Token, token)
}

// Expired reports whether the call has run for max or longer at now.
func (c *Call) Expired(max time.Duration, now time.Time) bool { return now.Sub(c.Start) >= max }
