package main

import (
	"os"
	"os/signal"
	"sync/atomic"
	"time"
)

// errBreak is what a command interrupted by Break returns: Stata prints
// --Break-- and r(1);.
var errBreak = &stataError{rc: 1, msg: "--Break--"}

// A breaker turns SIGINT into Stata's Break. The signal only marks a Break as
// pending and wakes a waiting command; the interpreter, which runs on one
// goroutine, takes the Break at the points where Stata checks for it: while a
// command waits (sleep) and between the commands of a do-file.
type breaker struct {
	pending atomic.Bool
	wake    chan struct{} // one token: a Break arrived since the last take
}

// newBreaker returns a breaker with no Break pending and no signal attached.
func newBreaker() *breaker {
	return &breaker{wake: make(chan struct{}, 1)}
}

// listenSIGINT makes SIGINT press Break, for the rest of the process.
func (b *breaker) listenSIGINT() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	go func() {
		for range ch {
			b.press()
		}
	}()
}

// press records a Break and wakes a command that waits.
func (b *breaker) press() {
	b.pending.Store(true)
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// clear forgets any pending Break. The console calls it before each command
// it reads: a Break pressed while Stata waits at the prompt does nothing.
func (b *breaker) clear() {
	b.pending.Store(false)
	select {
	case <-b.wake:
	default:
	}
}

// checkBreak returns errBreak, and forgets the Break, if one is pending and
// Break is not held off by nobreak.
func (s *session) checkBreak() *stataError {
	if s.brk == nil || s.nobreak > 0 {
		return nil
	}
	if s.brk.pending.Swap(false) {
		return errBreak
	}
	return nil
}

// wait is the sleep command: it waits for d, or until Break (unless nobreak
// holds it off). Tests replace the wait with sleepFn.
func (s *session) wait(d time.Duration) *stataError {
	if s.sleepFn != nil {
		s.sleepFn(d)
		return s.checkBreak()
	}
	if s.brk == nil {
		time.Sleep(d)
		return nil
	}
	if e := s.checkBreak(); e != nil {
		return e
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return s.checkBreak()
		case <-s.brk.wake:
			if e := s.checkBreak(); e != nil {
				return e
			}
			// Held off by nobreak: the Break stays pending until the
			// nobreak command has finished.
		}
	}
}
