package keepalive

import "sync/atomic"

// Slots counts the calls held at once, over every handler and transport that
// shares it, against a limit each caller gives. The zero value is ready to
// use; a process keeps one, so that a config reload loses no count.
type Slots struct{ n atomic.Int64 }

// Acquire takes a slot unless max are taken, and reports whether it did.
func (s *Slots) Acquire(max int) bool {
	if s.n.Add(1) > int64(max) {
		s.n.Add(-1)
		return false
	}
	return true
}

// Release gives back a slot taken by Acquire.
func (s *Slots) Release() { s.n.Add(-1) }

// Held returns how many slots are taken.
func (s *Slots) Held() int64 { return s.n.Load() }
