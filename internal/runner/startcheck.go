package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Bounds of the start check of the health report.
const (
	// startCheckTTL is how long the result of a start (of a session, or
	// the health report's own check) stands for whether Stata starts.
	startCheckTTL = time.Minute
	// startCheckTimeout bounds the health report's own start of Stata.
	startCheckTimeout = 15 * time.Second
)

// startCheck remembers whether Stata last started, for the health report.
type startCheck struct {
	mu    sync.Mutex // held during a check, so that checks do not pile up
	err   error      // the last start's error; nil when it started
	at    time.Time  // when the last start was; zero if none yet
	stata string     // the executable that last start ran
}

// recordStart records the result of a session's start.
func (r *Runner) recordStart(err error) {
	r.check.mu.Lock()
	defer r.check.mu.Unlock()
	r.check.err, r.check.at, r.check.stata = err, time.Now(), r.stataPath()
	if err != nil {
		r.log.Warn("stata failed to start", zap.Error(err))
	}
}

// checkStart returns why Stata cannot start, or nil when it can: the result
// of the last start if it is recent and ran the same executable, else that
// of a start of its own (Stata in console mode, asked to answer a marker
// and ended at once). live says a session runs now, which is proof enough.
func (r *Runner) checkStart(live bool) error {
	if live {
		return nil
	}
	stata := r.stataPath()
	r.check.mu.Lock()
	defer r.check.mu.Unlock()
	if !r.check.at.IsZero() && time.Since(r.check.at) < startCheckTTL && r.check.stata == stata {
		return r.check.err
	}
	err := r.tryStart(stata)
	r.check.err, r.check.at, r.check.stata = err, time.Now(), stata
	return err
}

// tryStart starts Stata in console mode in a directory of its own under the
// work directory, waits for it to answer and ends it.
func (r *Runner) tryStart(stata string) error {
	dir := filepath.Join(r.workDir, fmt.Sprintf("%s%d-%s-check-%s", sessionDirPrefix, os.Getpid(),
		time.Now().Format("20060102-150405"), randomID()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("cannot use the work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	con, err := startConsole(stata, dir, startCheckTimeout, r.cfg.KillGrace)
	if err != nil {
		return fmt.Errorf("the Stata executable %s fails to start (%s -q): %w", stata, filepath.Base(stata), err)
	}
	con.close(r.cfg.KillGrace)
	return nil
}
