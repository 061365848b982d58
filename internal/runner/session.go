package runner

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A session is one Stata process in console mode that belongs to one MCP
// session: data in memory, scalars, globals, estimates and the current
// directory carry over from one call to the next. It runs one call at a time
// (sem); the sessions type starts and ends sessions.
type session struct {
	key     string // the MCP session's id
	dir     string // Stata's starting directory, removed with the session
	con     *console
	started time.Time
	sem     chan struct{} // held by the call (or control block) using con

	mu        sync.Mutex
	lastUsed  time.Time
	busy      bool
	ended     bool
	endReason string
	idleTimer *time.Timer
}

// A blockSpec is one call to run in a session: Stata runs `capture noisily
// include "<runDo>"`, and runDo (see writeSessionWrapper) changes directory
// if it must and holds the code, or runs `do "<file>"`. include runs the
// wrapper's commands as if typed at Stata's prompt, so that the locals code
// defines stay for the session's next call.
type blockSpec struct {
	runDo     string        // the wrapper do-file
	target    string        // the do-file, or the code's wrapper, for logs
	startLine string        // the echo after which the user's commands come; "": at once
	logPath   string        // where the call's output is written
	callDir   string        // where graphs are exported
	total     int           // commands in the target, for progress
	timeout   time.Duration // the run's limit
	maxGraphs int           // the most graphs to export; 0: none
	maxOutput int64         // the most log text a result carries
}

// Limits on the parts of a block that only the runner's own commands make.
const (
	// defaultBreakGrace is how long Stata has to come back to its prompt
	// after a Break before its session is ended.
	defaultBreakGrace = 5 * time.Second
	// controlTimeout bounds the runner's own blocks (graph export, describe).
	controlTimeout = 30 * time.Second
	// startTimeout bounds the start of Stata in console mode.
	startTimeout = time.Minute
)

// A blockRun is the state of one block as its output is read.
type blockRun struct {
	spec       blockSpec
	log        *os.File
	step       int       // the user's commands echoed so far
	stepAt     time.Time // when the current command was echoed
	command    string    // the command running now
	lastOut    string    // the last line of output before it
	lastOutNow string    // the last line of output of the running command
	inTarget   bool      // the user's commands have begun
	inComment  bool      // the last echo was a comment or a blank line
	sawBreak   bool      // Stata printed --Break-- (Break in older versions)
	beginSeen  bool      // the begin marker was read
}

// line takes one line of the block's output (between its markers).
func (b *blockRun) line(line string, now time.Time) {
	fmt.Fprintln(b.log, line)
	if !b.inTarget {
		if line == b.spec.startLine {
			b.inTarget = true
		}
		return
	}
	switch {
	case line == "--Break--" || line == "Break":
		b.sawBreak = true
	case strings.HasPrefix(line, ". ") && isComment(line[2:]):
		// Stata echoes comments and blank lines of a do-file too; they are
		// not commands, nor are the continuation lines that follow them.
		b.inComment = true
	case strings.HasPrefix(line, ". "):
		b.inComment = false
		if b.command != "" && b.lastOutNow != "" {
			b.lastOut = b.lastOutNow
		}
		b.step++
		b.stepAt = now
		b.command = cleanLine([]byte(line[2:]))
		b.lastOutNow = ""
	case strings.TrimSpace(line) == ".":
		// The prompt Stata echoes before "end of do-file".
	case strings.HasPrefix(line, "> ") && b.inComment:
	case strings.HasPrefix(line, "> ") && b.lastOutNow == "":
		b.command = cleanLine([]byte(b.command + " " + strings.TrimPrefix(line, "> ")))
	default:
		if s := cleanLine([]byte(line)); s != "" && s != "end of do-file" {
			b.lastOutNow = s
		}
	}
}

// message is the progress message for the block now.
func (b *blockRun) message(elapsed time.Duration) string {
	if b.step == 0 {
		return fmt.Sprintf("running: %s, no command echoed yet", elapsed.Round(time.Second))
	}
	total := "?"
	if b.spec.total > 0 {
		total = strconv.Itoa(max(b.spec.total, b.step))
	}
	msg := fmt.Sprintf("line %d/%s: %s", b.step, total, b.command)
	last := b.lastOutNow
	if last == "" {
		last = b.lastOut
	}
	if last != "" {
		msg += " (last output: " + last + ")"
	}
	return msg
}

// run runs one block in the session and returns its outcome and the PNG
// files of the graphs it drew. It interrupts Stata (SIGINT) when the block's
// time runs out or ctx ends, and ends the session when Stata does not come
// back to its prompt within breakGrace after that, or when closing is
// closed. The third result says the session is gone.
func (s *session) run(ctx context.Context, spec blockSpec, prog *progress, closing <-chan struct{}, breakGrace, killGrace time.Duration) (outcome, []string, bool) {
	start := time.Now()
	o := outcome{status: statusOK, ran: true, pid: s.con.Pid(), started: start}
	logf, err := os.OpenFile(spec.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		o.status, o.ran, o.reason = statusFailed, false, fmt.Sprintf("creating the call's log: %v", err)
		return o, nil, false
	}
	defer logf.Close()
	b := &blockRun{spec: spec, log: logf, stepAt: start, inTarget: spec.startLine == ""}

	token := newToken()
	begin, end := marker("begin", token), marker("end", token)
	own := []string{
		`. capture noisily include "` + spec.runDo + `"`,
		". " + displayMarker("end", token, "_rc"),
	}
	if err := s.con.send(displayMarker("begin", token), `capture noisily include "`+spec.runDo+`"`,
		displayMarker("end", token, "_rc")); err != nil {
		return s.lost(o, fmt.Sprintf("cannot send the call to Stata: %v", err), killGrace), nil, true
	}

	limit := time.NewTimer(spec.timeout)
	defer limit.Stop()
	tick := time.NewTicker(prog.timeout)
	defer tick.Stop()
	breakTimer := time.NewTimer(breakGrace)
	breakTimer.Stop()
	defer breakTimer.Stop()
	var breakDeadline <-chan time.Time // set once Stata was interrupted
	interrupted := false
	interrupt := func(status, reason string) {
		if interrupted {
			return
		}
		interrupted = true
		o.status, o.reason = status, reason
		s.con.interrupt()
		breakTimer.Reset(breakGrace)
		breakDeadline = breakTimer.C
	}
	prog.reportStep(ctx, 0, start, spec.total, "started in the session of Stata pid "+strconv.Itoa(s.con.Pid()))
read:
	for {
		select {
		case line, ok := <-s.con.lines:
			if !ok {
				o.duration = time.Since(start)
				return s.lost(o, "", killGrace), nil, true
			}
			if !b.beginSeen {
				b.beginSeen = line == begin
				continue
			}
			if rest, found := strings.CutPrefix(line, end); found {
				rc, err := strconv.Atoi(strings.TrimSpace(rest))
				if err != nil {
					rc = -1
				}
				o.code = rc
				break read
			}
			if line == own[0] || line == own[1] {
				continue
			}
			b.line(line, time.Now())
		case <-limit.C:
			interrupt(statusTimeout, fmt.Sprintf("the run reached its time limit of %s", spec.timeout))
		case <-ctx.Done():
			interrupt(statusCancelled, "the call was cancelled")
		case <-breakDeadline:
			o.duration = time.Since(start)
			o.reason += fmt.Sprintf("; Stata did not come back to its prompt within %s of the Break, so its session "+
				"(pid %d) was ended, with its data; the next call starts a new one", breakGrace, s.con.Pid())
			s.end("it did not come back to its prompt after a Break", killGrace, true)
			return o, nil, true
		case <-closing:
			o.duration = time.Since(start)
			o.status, o.reason = statusCancelled, "the server is shutting down; the Stata session was ended"
			s.end("the server is shutting down", killGrace, true)
			return o, nil, true
		case <-tick.C:
			prog.reportStep(ctx, b.step, b.stepAt, spec.total, b.message(time.Since(start)))
		}
	}
	o.duration = time.Since(start)
	switch {
	case interrupted && (b.sawBreak || o.code == 1):
		o.reason += "; Stata stopped at the Break (r(1)), and the session keeps its data"
	case interrupted:
		// The Break came after the block had ended: the call ran to its end.
		o.status, o.reason = statusOK, ""
		fallthrough
	case o.code == 0:
	case o.code > 0:
		o.status = statusStataError
	default:
		o.status, o.reason = statusFailed, "Stata's return code could not be read"
	}
	o.log, o.logErr = readLog(spec.logPath, spec.maxOutput)
	if spec.maxGraphs <= 0 {
		return o, nil, false
	}
	graphs, err := s.exportGraphs(spec.callDir, spec.maxGraphs)
	if err != nil {
		s.end(fmt.Sprintf("exporting graphs failed: %v", err), killGrace, true)
		return o, nil, true
	}
	return o, graphs, false
}

// lost completes the outcome of a block whose Stata ended under it.
func (s *session) lost(o outcome, reason string, killGrace time.Duration) outcome {
	s.con.kill(killGrace)
	exit, _ := s.con.proc.exitStatus()
	s.mu.Lock()
	why := s.endReason
	s.mu.Unlock()
	if reason == "" {
		reason = "Stata ended during the call (" + exit + ")"
		if why != "" {
			reason = "the Stata session was ended during the call: " + why
		}
	}
	s.end(reason, killGrace, true)
	o.status, o.reason = statusFailed, reason+"; the next call starts a new session"
	return o
}

// control sends cmds to an idle session and returns what follows prefix on
// the first output line that starts with it, within controlTimeout.
func (s *session) control(prefix string, cmds ...string) (string, error) {
	if err := s.con.send(cmds...); err != nil {
		return "", fmt.Errorf("talking to Stata: %w", err)
	}
	t := time.NewTimer(controlTimeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-s.con.lines:
			if !ok {
				return "", fmt.Errorf("stata ended")
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return strings.TrimSpace(rest), nil
			}
		case <-t.C:
			return "", fmt.Errorf("stata did not answer within %s", controlTimeout)
		}
	}
}

// dataInMemory asks an idle session for the size of its dataset.
func (s *session) dataInMemory() (obs, vars int64, err error) {
	token := newToken()
	rest, err := s.control(marker("data", token), "quietly describe, short",
		displayMarker("data", token, "r(N)", "\" \"", "r(k)"))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(rest)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("unexpected answer %q", rest)
	}
	obs, err1 := strconv.ParseInt(f[0], 10, 64)
	vars, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("unexpected answer %q", rest)
	}
	return obs, vars, nil
}

// end ends the session's Stata, if it still runs, and removes its
// directory: at once (SIGTERM to its process group, then SIGKILL after
// killGrace) when hard, else by closing its input first, which makes Stata
// exit, and stopping it only if it has not after killGrace. The first reason
// given is kept. It returns once Stata is gone.
func (s *session) end(reason string, killGrace time.Duration, hard bool) {
	s.mu.Lock()
	if !s.ended {
		s.ended, s.endReason = true, reason
	}
	if s.idleTimer != nil {
		s.idleTimer.Stop()
	}
	s.mu.Unlock()
	if hard {
		s.con.kill(killGrace)
	} else {
		s.con.close(killGrace)
	}
	_ = os.RemoveAll(s.dir)
}

// isEnded reports whether the session was ended.
func (s *session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// isComment reports whether an echoed line of a do-file is blank or a
// comment rather than a command.
func isComment(cmd string) bool {
	c := strings.TrimSpace(cmd)
	return c == "" || strings.HasPrefix(c, "*") || strings.HasPrefix(c, "//") || strings.HasPrefix(c, "/*")
}
