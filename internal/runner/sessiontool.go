package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// toolSession is the tool that shows and manages the caller's Stata
// session, named as stata-mcp's.
const toolSession = "stata_session"

// SessionArgs are the arguments of stata_session.
type SessionArgs struct {
	// Action is list, restart or destroy.
	Action string `json:"action" jsonschema:"list (this MCP session's Stata session: pid, started, idle for, data in memory), restart (end it and start a fresh one) or destroy (end it; the next run starts a new one)"`
	// SessionID is stata-mcp's session name, accepted and not needed.
	SessionID string `json:"session_id,omitempty" jsonschema:"accepted for stata-mcp's clients; this server has one Stata session per MCP session, the caller's own"`
}

// SessionInfo is the structured result of stata_session.
type SessionInfo struct {
	// Action is the action done.
	Action string `json:"action" jsonschema:"the action done"`
	// Running says a Stata session runs for this MCP session (after the
	// action).
	Running bool `json:"running" jsonschema:"whether this MCP session has a running Stata session (after the action)"`
	// PID is Stata's process id.
	PID int `json:"pid,omitempty" jsonschema:"Stata's process id"`
	// Started is when the session started (RFC 3339).
	Started string `json:"started,omitempty" jsonschema:"when the Stata session started (RFC 3339)"`
	// IdleSeconds is how long the session has run no call; 0 while busy.
	IdleSeconds float64 `json:"idle_seconds,omitempty" jsonschema:"how long the Stata session has run no call, in seconds"`
	// Busy says a call runs in the session now.
	Busy bool `json:"busy,omitempty" jsonschema:"whether a call runs in the Stata session now"`
	// Observations and Variables are the size of the data in memory, when
	// the session was idle and Stata said.
	Observations *int64 `json:"observations,omitempty" jsonschema:"observations of the data in memory (r(N) of describe, short), when known"`
	Variables    *int64 `json:"variables,omitempty" jsonschema:"variables of the data in memory (r(k) of describe, short), when known"`
	// Sessions and MaxSessions are the server's live sessions and its limit.
	Sessions    int `json:"sessions" jsonschema:"how many Stata sessions run on the server now, of all clients"`
	MaxSessions int `json:"max_sessions" jsonschema:"the most Stata sessions the server runs at once (its sessions setting)"`
}

// addSessionTool registers stata_session on s.
func (r *Runner) addSessionTool(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{
		Name:  toolSession,
		Title: "Show or manage this client's Stata session",
		Description: "Each MCP session has its own Stata session, started by its first run and kept for the next, " +
			"so data in memory carries over. action list shows it (pid, started, idle time, data in memory); " +
			"restart ends it and starts a fresh one (data is lost); destroy ends it.",
		InputSchema: argsSchema[SessionArgs](),
	}, r.sessionTool)
}

// sessionTool is the handler of stata_session.
func (r *Runner) sessionTool(ctx context.Context, req *mcp.CallToolRequest, in SessionArgs) (*mcp.CallToolResult, SessionInfo, error) {
	action := strings.ToLower(strings.TrimSpace(in.Action))
	switch action {
	case "list", "restart", "destroy":
	case "":
		return nil, SessionInfo{}, errors.New("action is required: list, restart or destroy")
	default:
		return nil, SessionInfo{}, fmt.Errorf("unknown action %q: use list, restart or destroy", in.Action)
	}
	key := ""
	if req != nil && req.Session != nil {
		key = req.Session.ID()
	}
	if key == "" {
		return nil, SessionInfo{}, errors.New("this client has no MCP session (it speaks a protocol revision without sessions), " +
			"so it has no Stata session: each of its runs is a fresh batch process")
	}
	var b strings.Builder
	switch action {
	case "destroy":
		if r.sessions.endKey(key, "stata_session destroy") {
			b.WriteString("The Stata session of this MCP session was ended; the next run starts a new one.\n")
		} else {
			b.WriteString("This MCP session had no Stata session; the next run starts one.\n")
		}
	case "restart":
		r.sessions.endKey(key, "stata_session restart")
		if err := r.ready(); err != nil {
			return nil, SessionInfo{}, err
		}
		if _, _, err := r.sessions.get(key, req.Session); err != nil {
			return nil, SessionInfo{}, fmt.Errorf("cannot start a new Stata session: %w", err)
		}
		b.WriteString("The Stata session of this MCP session was restarted: the new one is empty.\n")
	}
	info := r.sessionInfo(key)
	info.Action = action
	if !info.Running {
		b.WriteString("No Stata session runs for this MCP session; the next stata_run_selection or stata_run_file starts one.\n")
	} else {
		fmt.Fprintf(&b, "Stata session: pid %d, started %s", info.PID, info.Started)
		if info.Busy {
			b.WriteString(", running a call now")
		} else {
			fmt.Fprintf(&b, ", idle for %s", (time.Duration(info.IdleSeconds * float64(time.Second))).Round(time.Second))
		}
		b.WriteString(".\n")
		if info.Observations != nil {
			fmt.Fprintf(&b, "Data in memory: %d observations, %d variables.\n", *info.Observations, *info.Variables)
		}
	}
	fmt.Fprintf(&b, "Stata sessions on this server: %d of at most %d.\n", info.Sessions, info.MaxSessions)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: b.String()}}}, info, nil
}

// sessionInfo describes the Stata session of key; the size of its data only
// when it is idle.
func (r *Runner) sessionInfo(key string) SessionInfo {
	st := r.sessions.stats()
	info := SessionInfo{Sessions: st.Count, MaxSessions: st.Max}
	s := r.sessions.current(key)
	if s == nil {
		return info
	}
	info.Running, info.PID, info.Started = true, s.con.Pid(), s.started.UTC().Format(time.RFC3339)
	select {
	case s.sem <- struct{}{}:
	default:
		info.Busy = true
		return info
	}
	defer func() { <-s.sem }()
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		info.Running = false
		return info
	}
	// Busy while Stata answers, so that the idle timer leaves it alone;
	// asking does not count as use.
	s.busy = true
	info.IdleSeconds = float64(int64(time.Since(s.lastUsed).Seconds()*10)) / 10
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.busy = false
		s.mu.Unlock()
	}()
	if obs, vars, err := s.dataInMemory(); err == nil {
		info.Observations, info.Variables = &obs, &vars
	}
	return info
}
