package streams

import (
	"container/list"
	"sync"
	"time"
)

// Limits are the bounds a stream's creator sets; they travel with the stream
// so that configurations sharing a store never change each other's. When a
// stream grows, the store makes room under that stream's limits.
type Limits struct {
	// Memory is the most bytes of event data all streams of the store keep
	// in memory (store_limit).
	Memory int64
	// SpillDir is where spill files go; "" is os.TempDir().
	SpillDir string
	// SpillAfter is the most bytes of event data one stream keeps in memory
	// before spilling.
	SpillAfter int64
	// SpillLimit is the most bytes all spill files of the store hold. Zero
	// (or less) turns spilling off: every event is kept in memory and
	// SpillAfter does not apply.
	SpillLimit int64
	// Mirror, when set, copies the stream's durable events to a store
	// shared with other processes.
	Mirror Mirror
}

// spills reports whether the limits let events go to spill files.
func (l Limits) spills() bool { return l.SpillLimit > 0 }

// Store holds the streams of held calls. Its methods are safe for concurrent
// use; a process keeps one, so that config reloads lose nothing.
type Store struct {
	mu       sync.Mutex
	memory   int64 // bytes of events kept in memory
	spilled  int64 // bytes of event data in spill files
	byID     map[string]*Stream
	byCall   map[string]*Stream
	finished *list.List // of *Stream, oldest first
	elems    map[*Stream]*list.Element
	timers   map[*Stream]*time.Timer
	running  int
}

// New returns an empty store.
func New() *Store {
	return &Store{
		byID:     make(map[string]*Stream),
		byCall:   make(map[string]*Stream),
		finished: list.New(),
		elems:    make(map[*Stream]*list.Element),
		timers:   make(map[*Stream]*time.Timer),
	}
}

// Create adds the stream of a new held call owned by owner; request is a key
// of its JSON-RPC id (see Lookup), and cancel stops the call. Whenever the
// stream grows, the store makes room under lim.
func (st *Store) Create(owner Owner, request string, lim Limits, cancel func()) *Stream {
	s := &Stream{ID: newStreamID(), owner: owner, call: owner.key(request), store: st, lim: lim,
		spill: &spillFile{dir: lim.SpillDir}, changed: make(chan struct{}), cancel: cancel, running: true}
	st.mu.Lock()
	st.byID[s.ID] = s
	st.byCall[s.call] = s
	st.running++
	st.mu.Unlock()
	if lim.Mirror != nil {
		// The mirror may cancel the stream (for another process), so the
		// store has it first; a cancel that came meanwhile is passed on.
		m := lim.Mirror.Open(s, request)
		s.mu.Lock()
		s.mirror = m
		cancelled := s.cancelled
		s.mu.Unlock()
		if cancelled {
			m.Cancel()
		}
	}
	return s
}

// Get returns the stream with the given id, or nil.
func (st *Store) Get(id string) *Stream {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.byID[id]
}

// Lookup returns the running call of owner whose request key is request, or
// nil.
func (st *Store) Lookup(owner Owner, request string) *Stream {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.byCall[owner.key(request)]
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done || s.cancelled {
		return nil
	}
	return s
}

// Stats returns how many streams the store holds, how many of them are
// running calls, the bytes of their events kept in memory, and the bytes in
// their spill files.
func (st *Store) Stats() (streams, running int, memory, spilled int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.byID), st.running, st.memory, st.spilled
}

// place decides where the n data bytes of a new event of s go, cost being
// what the event would count in memory. An event stays in memory while its
// stream is under SpillAfter and the store has room, once the oldest
// finished streams are gone; otherwise it is spilled, and spill reports the
// offset reserved for it in the stream's spill file. An event that would
// have stayed in memory but finds no room on disk either stays in memory, and
// the stream's oldest events will go. It returns errRemoved if s is gone.
func (st *Store) place(s *Stream, n, cost int64) (spill bool, off int64, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.removed {
		return false, 0, errRemoved
	}
	lim := s.lim
	if !lim.spills() {
		return false, 0, nil
	}
	if s.memData+n <= lim.SpillAfter {
		for st.memory+cost > lim.Memory && st.finished.Len() > 0 {
			st.removeLocked(st.finished.Front().Value.(*Stream))
		}
		if st.memory+cost <= lim.Memory {
			return false, 0, nil
		}
		if off, err := st.reserveLocked(s, n); err == nil {
			return true, off, nil
		}
		return false, 0, nil
	}
	off, err = st.reserveLocked(s, n)
	return err == nil, off, err
}

// inMemory reports whether an event of s whose data is n bytes stays in
// memory for want of a reason to spill it: spilling is off, or the stream is
// under SpillAfter with it.
func (st *Store) inMemory(s *Stream, n int64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return !s.lim.spills() || s.memData+n <= s.lim.SpillAfter
}

// reserve counts n more bytes at the end of the spill file of s and returns
// their offset; see reserveLocked.
func (st *Store) reserve(s *Stream, n int64) (int64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.removed {
		return 0, errRemoved
	}
	return st.reserveLocked(s, n)
}

// reserveLocked counts n more bytes at the end of the spill file of s and
// returns their offset. If the spill files would go over the limit of s, it
// first removes the oldest finished streams that have spilled, if that makes
// enough room, and otherwise fails with ErrSpillFull and changes nothing.
// st.mu must be held.
func (st *Store) reserveLocked(s *Stream, n int64) (int64, error) {
	limit := s.lim.SpillLimit
	if !s.lim.spills() {
		return 0, ErrSpillFull
	}
	if st.spilled+n > limit {
		var evictable int64
		for e := st.finished.Front(); e != nil; e = e.Next() {
			evictable += e.Value.(*Stream).spilled
		}
		if st.spilled-evictable+n > limit {
			return 0, ErrSpillFull
		}
		for e := st.finished.Front(); e != nil && st.spilled+n > limit; {
			victim := e.Value.(*Stream)
			e = e.Next()
			if victim.spilled > 0 {
				st.removeLocked(victim)
			}
		}
	}
	st.spilled += n
	s.spilled += n
	off := s.spillEnd
	s.spillEnd += n
	return off, nil
}

// unreserve gives back the n bytes at off in the spill file of s, if they
// are its last ones.
func (st *Store) unreserve(s *Stream, off, n int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.removed || s.spillEnd != off+n {
		return
	}
	s.spillEnd = off
	s.spilled -= n
	st.spilled -= n
}

// count adds ev, a new event of s, to the bytes kept in memory. It reports
// false if s is gone.
func (st *Store) count(s *Stream, ev *Event) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.removed {
		return false
	}
	if !ev.spilled {
		st.memory += ev.memSize()
		s.mem += ev.memSize()
		s.memData += ev.Size
	}
	return true
}

// evict removes the oldest finished streams while the store keeps more in
// memory than growing's limit (growing is the stream that just grew); if
// that is not enough, it drops the oldest events of growing, never its final
// response.
func (st *Store) evict(growing *Stream) {
	st.mu.Lock()
	defer st.mu.Unlock()
	limit := growing.lim.Memory
	for st.memory > limit && st.finished.Len() > 0 {
		st.removeLocked(st.finished.Front().Value.(*Stream))
	}
	if st.memory > limit && !growing.removed {
		freed, data := growing.trim(st.memory - limit)
		st.memory -= freed
		growing.mem -= freed
		growing.memData -= data
	}
}

// finish moves s to the finished streams, to be removed after ttl.
func (st *Store) finish(s *Stream, ttl time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.removed {
		return
	}
	st.stopRunning(s)
	delete(st.byCall, s.call)
	if ttl <= 0 {
		st.removeLocked(s)
		return
	}
	st.elems[s] = st.finished.PushBack(s)
	st.timers[s] = time.AfterFunc(ttl, func() { st.remove(s) })
}

// remove takes s out of the store.
func (st *Store) remove(s *Stream) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.removeLocked(s)
}

// removeLocked takes s out of the store and deletes its spill file; st.mu
// must be held.
func (st *Store) removeLocked(s *Stream) {
	if s.removed {
		return
	}
	s.removed = true
	st.stopRunning(s)
	if e, ok := st.elems[s]; ok {
		st.finished.Remove(e)
		delete(st.elems, s)
	}
	if t, ok := st.timers[s]; ok {
		t.Stop()
		delete(st.timers, s)
	}
	delete(st.byID, s.ID)
	if st.byCall[s.call] == s {
		delete(st.byCall, s.call)
	}
	st.memory -= s.mem
	st.spilled -= s.spilled
	s.mem, s.memData, s.spilled = 0, 0, 0
	s.spill.close()
}

// stopRunning stops counting s as running; st.mu must be held.
func (st *Store) stopRunning(s *Stream) {
	if s.running {
		s.running = false
		st.running--
	}
}
