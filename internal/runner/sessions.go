package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// sessionDirPrefix starts the name of a session's directory in the work
// directory: session-<pid>-<time>-<random>. The sweep at start removes those
// that a process no longer running left behind, as it does call directories.
const sessionDirPrefix = "session-"

// errSessionsFull is the error of a call that needs a new Stata session when
// the limit is reached.
var errSessionsFull = errors.New("all Stata sessions are in use")

// A waiter is what sessions needs of an MCP session: the wait for its end.
type waiter interface {
	Wait() error
}

// sessions keeps the Stata sessions of a Runner, one per MCP session, at
// most max at once. A session ends when its MCP session closes, after idle
// without a call, on request (stata_session), when it does not come back
// from a Break, or when the Runner closes. It is safe for concurrent use.
type sessions struct {
	max       int
	idle      time.Duration
	workDir   string
	killGrace time.Duration
	log       *zap.Logger
	stata     func() string          // the Stata executable, "" if none
	started   func(err error)        // told of each start's result, for the health report
	hookEnd   func(*session, string) // for tests: called as a session ends

	mu       sync.Mutex
	byKey    map[string]*session
	starting int                 // sessions being started, counted against max
	notes    map[string]string   // by MCP session: what happened to its last Stata session
	watched  map[string]struct{} // MCP sessions whose end is awaited
	closed   bool
	ending   sync.WaitGroup // sessions being ended, and watchers
	watchers sync.WaitGroup
}

// newSessions returns an empty set of sessions.
func newSessions(max int, idle time.Duration, workDir string, killGrace time.Duration, log *zap.Logger,
	stata func() string, started func(error)) *sessions {
	return &sessions{
		max: max, idle: idle, workDir: workDir, killGrace: killGrace, log: log, stata: stata, started: started,
		byKey: map[string]*session{}, notes: map[string]string{}, watched: map[string]struct{}{},
	}
}

// get returns the live session of the MCP session key, starting one if there
// is none, and a note saying what happened to the session before it, if the
// caller should be told (it was replaced). mcp, when not nil, is the MCP
// session: its end ends the Stata session.
func (m *sessions) get(key string, mcp waiter) (*session, string, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, "", errClosed
	}
	if s := m.byKey[key]; s != nil {
		if !s.isEnded() {
			m.mu.Unlock()
			return s, "", nil
		}
		delete(m.byKey, key)
	}
	if len(m.byKey)+m.starting >= m.max {
		n := len(m.byKey) + m.starting
		m.mu.Unlock()
		return nil, "", fmt.Errorf("%w: %d of %d", errSessionsFull, n, m.max)
	}
	m.starting++
	if _, ok := m.watched[key]; !ok && mcp != nil {
		m.watched[key] = struct{}{}
		m.watchers.Add(1)
		go m.watch(key, mcp)
	}
	m.mu.Unlock()

	s, err := m.start(key)
	m.started(err)

	m.mu.Lock()
	defer m.mu.Unlock()
	m.starting--
	if err != nil {
		return nil, "", err
	}
	if m.closed {
		m.ending.Add(1)
		go func() {
			defer m.ending.Done()
			s.end("the server is shutting down", m.killGrace, true)
		}()
		return nil, "", errClosed
	}
	m.byKey[key] = s
	note := m.notes[key]
	delete(m.notes, key)
	m.log.Info("stata session started", zap.String("mcp_session", key), zap.Int("pid", s.con.Pid()),
		zap.String("dir", s.dir))
	return s, note, nil
}

// start starts a Stata session in a new directory of the work directory.
func (m *sessions) start(key string) (*session, error) {
	stata := m.stata()
	if stata == "" {
		return nil, errors.New("no stata executable")
	}
	dir := filepath.Join(m.workDir, fmt.Sprintf("%s%d-%s-%s", sessionDirPrefix, os.Getpid(),
		time.Now().Format("20060102-150405"), randomID()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("making the session's directory: %w", err)
	}
	con, err := startConsole(stata, dir, startTimeout, m.killGrace)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting Stata (%s -q): %w", stata, err)
	}
	now := time.Now()
	return &session{key: key, dir: dir, con: con, started: now, lastUsed: now, sem: make(chan struct{}, 1)}, nil
}

// watch ends the Stata session of an MCP session once that session ends.
func (m *sessions) watch(key string, mcp waiter) {
	defer m.watchers.Done()
	_ = mcp.Wait()
	m.mu.Lock()
	delete(m.watched, key)
	delete(m.notes, key)
	m.mu.Unlock()
	m.endKey(key, "its MCP session was closed")
}

// lock waits for s to be free and takes it, or returns ctx's error; while
// it waits, it calls waiting at once and then every interval. It returns
// false with no error when s ended meanwhile.
func (m *sessions) lock(ctx context.Context, s *session, interval time.Duration, waiting func()) (bool, error) {
	select {
	case s.sem <- struct{}{}:
	default:
		waiting()
		tick := time.NewTicker(interval)
		defer tick.Stop()
	wait:
		for {
			select {
			case s.sem <- struct{}{}:
				break wait
			case <-ctx.Done():
				return false, ctx.Err()
			case <-tick.C:
				waiting()
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		<-s.sem
		return false, nil
	}
	s.busy = true
	if s.idleTimer != nil {
		s.idleTimer.Stop()
	}
	return true, nil
}

// unlock frees s after a call and starts its idle timer.
func (m *sessions) unlock(s *session) {
	s.mu.Lock()
	s.busy = false
	s.lastUsed = time.Now()
	if !s.ended && m.idle > 0 {
		s.idleTimer = time.AfterFunc(m.idle, func() { m.endIdle(s) })
	}
	s.mu.Unlock()
	<-s.sem
}

// endIdle ends s if it is still idle.
func (m *sessions) endIdle(s *session) {
	s.mu.Lock()
	idle := !s.busy && !s.ended && time.Since(s.lastUsed) >= m.idle
	s.mu.Unlock()
	if idle {
		m.end(s, fmt.Sprintf("it was idle for %s (session_idle)", m.idle), false, true)
	}
}

// current returns the live session of key, or nil.
func (m *sessions) current(key string) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.byKey[key]; s != nil && !s.isEnded() {
		return s
	}
	return nil
}

// endKey ends the session of key, if any.
func (m *sessions) endKey(key, reason string) bool {
	m.mu.Lock()
	s := m.byKey[key]
	m.mu.Unlock()
	if s == nil {
		return false
	}
	m.end(s, reason, false, false)
	return true
}

// end ends s and forgets it; it returns once Stata is gone. When tell, the
// MCP session's next call is told why its session is new.
func (m *sessions) end(s *session, reason string, hard, tell bool) {
	if s.isEnded() {
		m.mu.Lock()
		if m.byKey[s.key] == s {
			delete(m.byKey, s.key)
		}
		m.mu.Unlock()
		return
	}
	m.mu.Lock()
	m.ending.Add(1)
	m.mu.Unlock()
	defer m.ending.Done()
	s.end(reason, m.killGrace, hard)
	if tell {
		m.forget(s)
	} else {
		m.mu.Lock()
		if m.byKey[s.key] == s {
			delete(m.byKey, s.key)
		}
		m.mu.Unlock()
	}
	m.log.Info("stata session ended", zap.String("mcp_session", s.key), zap.Int("pid", s.con.Pid()),
		zap.String("reason", reason))
	if m.hookEnd != nil {
		m.hookEnd(s, reason)
	}
}

// forget removes s, which has ended, and keeps a note of why for the MCP
// session's next call, which starts a new session.
func (m *sessions) forget(s *session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byKey[s.key] != s {
		return
	}
	delete(m.byKey, s.key)
	s.mu.Lock()
	reason := s.endReason
	s.mu.Unlock()
	if _, ok := m.watched[s.key]; ok {
		m.notes[s.key] = fmt.Sprintf("This call runs in a new Stata session: the previous one (pid %d, started %s) was ended because %s, "+
			"and the data, scalars, globals and settings it held are gone.", s.con.Pid(), s.started.UTC().Format(time.RFC3339), reason)
	}
}

// sessionStats is what the health report says of the sessions.
type sessionStats struct {
	Count      int     `json:"count"`
	Max        int     `json:"max"`
	Busy       int     `json:"busy"`
	OldestIdle float64 `json:"oldest_idle_seconds"`
}

// stats returns the number of live sessions and the longest idle time.
func (m *sessions) stats() sessionStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := sessionStats{Count: len(m.byKey), Max: m.max}
	now := time.Now()
	for _, s := range m.byKey {
		s.mu.Lock()
		if s.busy {
			st.Busy++
		} else if idle := now.Sub(s.lastUsed).Seconds(); idle > st.OldestIdle {
			st.OldestIdle = idle
		}
		s.mu.Unlock()
	}
	st.OldestIdle = float64(int64(st.OldestIdle*10)) / 10
	return st
}

// close ends every session and waits until they are gone. Watchers of MCP
// sessions end when those do.
func (m *sessions) close() {
	m.mu.Lock()
	m.closed = true
	all := make([]*session, 0, len(m.byKey))
	for _, s := range m.byKey {
		all = append(all, s)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.end(s, "the server is shutting down", true, false)
		}()
	}
	wg.Wait()
	m.ending.Wait()
}

// waitWatchers waits until every watcher has seen its MCP session end.
func (m *sessions) waitWatchers() {
	m.watchers.Wait()
}
