package tasks

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Status is the status of a task.
type Status string

// The statuses of a task. Completed, Failed and Cancelled are terminal: a
// task in one of them never changes again.
const (
	Working   Status = "working"
	Completed Status = "completed"
	Failed    Status = "failed"
	Cancelled Status = "cancelled"
)

// Terminal reports whether s is a final status.
func (s Status) Terminal() bool { return s == Completed || s == Failed || s == Cancelled }

// Task is the JSON shape of a task (the 2025-11-25 schema's Task).
type Task struct {
	TaskID        string `json:"taskId"`
	Status        Status `json:"status"`
	StatusMessage string `json:"statusMessage,omitempty"`
	CreatedAt     string `json:"createdAt"`
	LastUpdatedAt string `json:"lastUpdatedAt"`
	// TTL is in milliseconds, counted from CreatedAt.
	TTL int64 `json:"ttl"`
	// PollInterval is in milliseconds.
	PollInterval int64 `json:"pollInterval,omitempty"`
}

// RelatedTaskKey is the _meta key that ties a message to a task.
const RelatedTaskKey = "io.modelcontextprotocol/related-task"

// ID is what a task id says: the stream that runs the task, when the task
// was created, and how long it lives.
type ID struct {
	Stream  string
	Created time.Time
	TTL     time.Duration
}

// String returns the task id: the stream id (128 random bits, which make it
// unguessable), then the creation time and the time to live in milliseconds,
// in base 36.
func (id ID) String() string {
	return id.Stream + "." + strconv.FormatInt(id.Created.UnixMilli(), 36) + "." +
		strconv.FormatInt(id.TTL.Milliseconds(), 36)
}

// Expires returns when the task is gone.
func (id ID) Expires() time.Time { return id.Created.Add(id.TTL) }

// ParseID splits a task id. It reports false for an id this package did not
// issue.
func ParseID(s string) (ID, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 32 {
		return ID{}, false
	}
	for _, c := range parts[0] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ID{}, false
		}
	}
	created, err1 := strconv.ParseInt(parts[1], 36, 64)
	ttl, err2 := strconv.ParseInt(parts[2], 36, 64)
	if err1 != nil || err2 != nil || ttl <= 0 {
		return ID{}, false
	}
	return ID{Stream: parts[0], Created: time.UnixMilli(created), TTL: time.Duration(ttl) * time.Millisecond}, true
}

// New returns the task of id with status s, last changed at updated.
func New(id ID, s Status, message string, updated time.Time, poll time.Duration) Task {
	t := Task{
		TaskID:        id.String(),
		Status:        s,
		StatusMessage: message,
		CreatedAt:     stamp(id.Created),
		LastUpdatedAt: stamp(updated),
		TTL:           id.TTL.Milliseconds(),
	}
	if !s.Terminal() {
		t.PollInterval = poll.Milliseconds()
	}
	return t
}

// stamp formats t as the ISO 8601 timestamps of tasks are.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Outcome returns the status and message of a task whose call ended with
// response, a JSON-RPC response: Failed with the error's message for an
// error, Completed for a result (a tool's result with isError set too: it is
// the tool's answer, which tasks/result returns as it is).
func Outcome(response []byte) (Status, string) {
	var r struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(response, &r); err != nil {
		return Failed, "the response could not be read"
	}
	if r.Error != nil {
		return Failed, r.Error.Message
	}
	return Completed, ""
}

// Observer is told of tasks' changes and of the task methods served, for
// metrics.
type Observer interface {
	// Changed tells that a task entered status s (Working: it was
	// created).
	Changed(s Status)
	// Served tells that a task method was answered.
	Served(method string)
}

// NopObserver observes nothing.
type NopObserver struct{}

// Changed does nothing.
func (NopObserver) Changed(Status) {}

// Served does nothing.
func (NopObserver) Served(string) {}
