package streams

import (
	"container/list"
	"sync"
	"time"
)

// Store holds the streams of held calls. Its methods are safe for concurrent
// use; a process keeps one, so that config reloads lose nothing.
type Store struct {
	mu       sync.Mutex
	bytes    int64
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
// stream grows, the store makes room until all it holds is at most limit
// bytes: the limit belongs to the stream's creator, so that configurations
// sharing the store never change each other's.
func (st *Store) Create(owner Owner, request string, limit int64, cancel func()) *Stream {
	s := &Stream{ID: newStreamID(), owner: owner, call: owner.key(request), store: st,
		changed: make(chan struct{}), cancel: cancel, running: true, limit: limit}
	st.mu.Lock()
	st.byID[s.ID] = s
	st.byCall[s.call] = s
	st.running++
	st.mu.Unlock()
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
// running calls, and their bytes.
func (st *Store) Stats() (streams, running int, bytes int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.byID), st.running, st.bytes
}

// grow counts n more bytes of s and makes room if the store is over its limit.
func (st *Store) grow(s *Stream, n int64) {
	st.mu.Lock()
	if s.removed {
		st.mu.Unlock()
		return
	}
	st.bytes += n
	st.mu.Unlock()
	st.evict(s)
}

// evict removes the oldest finished streams while the store holds more than
// growing's limit (growing is the stream that just grew); if that is not
// enough, it drops the oldest events of growing, never its final response.
func (st *Store) evict(growing *Stream) {
	st.mu.Lock()
	defer st.mu.Unlock()
	limit := growing.limit
	for st.bytes > limit && st.finished.Len() > 0 {
		st.removeLocked(st.finished.Front().Value.(*Stream))
	}
	if st.bytes > limit && !growing.removed {
		st.bytes -= growing.trim(st.bytes - limit)
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

// removeLocked takes s out of the store; st.mu must be held.
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
	s.mu.Lock()
	st.bytes -= s.size
	s.size = 0
	s.mu.Unlock()
}

// stopRunning stops counting s as running; st.mu must be held.
func (st *Store) stopRunning(s *Stream) {
	if s.running {
		s.running = false
		st.running--
	}
}
