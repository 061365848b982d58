package tasks

import (
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// Defaults of Config, documented on its fields.
const (
	DefaultTTL  = time.Hour
	DefaultPoll = 5 * time.Second
	DefaultMax  = 100
	// PageSize is how many tasks one tasks/list answer holds.
	PageSize = 50
)

// Config says how tasks are offered.
type Config struct {
	// TTL is the longest a task lives, counted from its creation; a client
	// may ask for less.
	TTL time.Duration
	// Poll is the poll interval suggested to clients.
	Poll time.Duration
	// Max is the most tasks a session may have at once (until they expire).
	Max int
}

// TTLFor returns the time to live of a task whose client asked for
// requested milliseconds (0: no wish).
func (c Config) TTLFor(requested int64) time.Duration {
	ttl := c.TTL
	if r := time.Duration(requested) * time.Millisecond; requested > 0 && r < ttl {
		ttl = r
	}
	return ttl
}

// ErrCursor is returned by Registry.List for a cursor it did not issue.
var ErrCursor = errors.New("invalid cursor")

// Entry is what the process that created a task knows of it beyond its id:
// a terminal status it saw happen (the call's end, a cancel), with its time.
type Entry struct {
	ID ID
	// Request is the JSON-RPC id of the tools/call that created the task,
	// for the notifications/cancelled that a tasks/cancel sends upstream.
	Request json.RawMessage

	mu      sync.Mutex
	status  Status
	message string
	updated time.Time
}

// NewEntry returns the entry of a new, working task.
func NewEntry(id ID, request json.RawMessage) *Entry {
	return &Entry{ID: id, Request: request, status: Working, updated: id.Created}
}

// Finish records that the task reached the terminal status s at t, and
// reports whether it did now: a task whose status is terminal already keeps
// it.
func (e *Entry) Finish(s Status, message string, t time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.status.Terminal() {
		return false
	}
	e.status, e.message, e.updated = s, message, t
	return true
}

// State returns the task's status, its message and when it last changed.
func (e *Entry) State() (Status, string, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status, e.message, e.updated
}

// Registry holds the tasks of each session, keyed by an owner's digest. It
// keeps an expired task for another time to live, so that its owner is told
// it expired rather than that it never was. It is safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	sessions map[string][]*Entry // by creation
	own      map[string]bool     // sessions whose upstream declares tasks
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{sessions: make(map[string][]*Entry), own: make(map[string]bool)}
}

// maxOwn bounds the sessions remembered as having tasks of their own.
const maxOwn = 100000

// SetOwn remembers that the upstream of session declares tasks of its own,
// so that its task requests pass through untouched.
func (r *Registry) SetOwn(session string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.own) >= maxOwn {
		for s := range r.own {
			delete(r.own, s)
			break
		}
	}
	r.own[session] = true
}

// Own reports whether the upstream of session declares tasks of its own.
func (r *Registry) Own(session string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.own[session]
}

// Room reports whether owner has fewer than max tasks that have not expired
// at now. Two requests at once may both find room for one: the limit is one
// of memory, not of exact counts.
func (r *Registry) Room(owner string, max int, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	live := 0
	for _, x := range r.purge(owner, now) {
		if now.Before(x.ID.Expires()) {
			live++
		}
	}
	return live < max
}

// Add adds e to owner's tasks.
func (r *Registry) Add(owner string, e *Entry) {
	r.mu.Lock()
	r.sessions[owner] = append(r.sessions[owner], e)
	r.mu.Unlock()
}

// purge drops owner's tasks that expired more than their time to live ago
// and returns the rest; r.mu must be held.
func (r *Registry) purge(owner string, now time.Time) []*Entry {
	list := r.sessions[owner]
	kept := list[:0]
	for _, x := range list {
		if now.Before(x.ID.Expires().Add(x.ID.TTL)) {
			kept = append(kept, x)
		}
	}
	clear(list[len(kept):])
	if len(kept) == 0 {
		delete(r.sessions, owner)
		return nil
	}
	r.sessions[owner] = kept
	return kept
}

// Get returns owner's task with the id id, expired or not, or nil.
func (r *Registry) Get(owner, id string) *Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.sessions[owner] {
		if x.ID.String() == id {
			return x
		}
	}
	return nil
}

// List returns up to n of owner's tasks that have not expired at now, in
// the order of their creation, from the one after cursor (the first, when
// cursor is empty), and the cursor of the next page ("" after the last).
func (r *Registry) List(owner, cursor string, n int, now time.Time) ([]*Entry, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.purge(owner, now)
	start := 0
	if cursor != "" {
		start = -1
		for i, x := range list {
			if x.ID.String() == cursor {
				start = i + 1
			}
		}
		if start < 0 {
			return nil, "", ErrCursor
		}
	}
	var page []*Entry
	next := ""
	for _, x := range list[start:] {
		if !now.Before(x.ID.Expires()) {
			continue
		}
		if len(page) == n {
			next = page[n-1].ID.String()
			break
		}
		page = append(page, x)
	}
	return page, next, nil
}
