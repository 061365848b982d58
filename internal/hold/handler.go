package hold

import (
	"time"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"

	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/streams"
	"github.com/caddy-stata/caddy-stata/internal/tasks"
)

// Handler holds long tools/call requests open. It is safe for concurrent use.
type Handler struct {
	cfg   keepalive.Config
	log   *zap.Logger
	held  *keepalive.Slots
	store *streams.Store
	index *Index
	// limits are the stream limits of this handler's calls.
	limits streams.Limits
	calls  sync.WaitGroup // committed calls, and goroutines of calls

	// Observer, when set, is told of held calls' ends, keep-alives and
	// replays.
	Observer keepalive.Observer

	// Detach, when set, is applied to the request that is sent upstream for a
	// held call that may outlive the client's request (one whose client
	// polls), after its context has been detached from the client's. The
	// Caddy glue uses it to give the upstream request its own copy of
	// per-request state.
	Detach func(*http.Request) *http.Request

	// Mirror, when set, copies the events of this handler's calls to a
	// store shared with other processes, and Remote serves resumes and
	// passes on cancels of calls that other processes run, through that
	// store. Both nil (the default) keep every stream in this process.
	Mirror streams.Mirror
	Remote streams.Remote

	// Tasks, when set, offers tasks for held tools to clients that ask for
	// them; nil (the default) passes task requests to next untouched.
	Tasks *Tasks
}

// New returns a Handler for cfg, which must be valid. Held calls are counted
// in held, found within their grace period in index, and their streams kept
// in store; handlers that must respect one limit and serve each other's
// calls (across config reloads, say) share them. A nil held, index or store
// gives the handler its own.
func New(cfg keepalive.Config, held *keepalive.Slots, index *Index, store *streams.Store, log *zap.Logger) *Handler {
	if held == nil {
		held = new(keepalive.Slots)
	}
	if index == nil {
		index = NewIndex()
	}
	if store == nil {
		store = streams.New()
	}
	if log == nil {
		log = zap.NewNop()
	}
	limits := streams.Limits{Memory: cfg.StoreLimit, SpillDir: cfg.SpillDir, SpillAfter: cfg.SpillAfter, SpillLimit: cfg.SpillLimit}
	return &Handler{cfg: cfg, held: held, index: index, store: store, limits: limits, log: log, Observer: keepalive.NopObserver{}}
}

// errBodyTooLarge marks a request body over the limit.
var errBodyTooLarge = errors.New("request body too large")

// ServeHTTP passes r to next, except: a tools/call of a held tool from a
// client that accepts an event stream, which it holds; a GET that resumes one
// of its streams, which it serves; and a notifications/cancelled naming a
// held call, which it passes on and then cancels the call. Errors are next's
// own, or the failure to read the request body.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next keepalive.Next) error {
	calls, body, err := h.admit(w, r, next)
	if calls == nil {
		return err
	}
	// hold gives the slot back when the call ends, which may be after it
	// returns.
	return h.hold(w, r, body, calls, next)
}

// admit does all of ServeHTTP but holding a call: it serves what is not held
// (returning a nil calls and the error to return), and returns the call to
// hold, with its slot taken, and the request's body. It is a function of its
// own so that its locals take no room in the frames that stay on the stack
// under the whole upstream call of a held one.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, next keepalive.Next) (calls []*keepalive.Call, body []byte, err error) {
	if r.Method == http.MethodGet && h.cfg.Resume > 0 {
		if id, seq, ok := streams.ParseEventID(r.Header.Get("Last-Event-ID")); ok {
			h.resume(w, r, id, seq)
			return nil, nil, nil
		}
	}
	if r.Method != http.MethodPost || !mcpmsg.IsMediaType(r.Header.Get("Content-Type"), "application/json") {
		return nil, nil, next(w, r)
	}
	body, err = readBody(r.Body, r.ContentLength, h.cfg.MaxRequestBody)
	if errors.Is(err, errBodyTooLarge) {
		keepalive.WriteError(w, http.StatusRequestEntityTooLarge, nil, mcpmsg.CodeInvalidRequest,
			"request body is larger than "+strconv.FormatInt(h.cfg.MaxRequestBody, 10)+" bytes")
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, &keepalive.RequestBodyError{Err: err}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if mcpmsg.IsBatch(body) {
		return nil, nil, h.batch(w, r, body, next)
	}

	// The substring test keeps JSON parsing off the path of every other
	// message; a method spelled with escapes merely goes unheld.
	if !bytes.Contains(body, []byte("tools/call")) && !bytes.Contains(body, []byte("notifications/cancelled")) &&
		(h.Tasks == nil || !mayConcernTasks(body, r.Header)) {
		return nil, nil, next(w, r)
	}
	msg, err := mcpmsg.Parse(body)
	if err != nil {
		return nil, nil, next(w, r)
	}
	// Tasks are offered unless the session's upstream has its own.
	offer := h.Tasks != nil && msg.IsRequest() && !h.Tasks.Registry.Own(r.Header.Get("Mcp-Session-Id"))
	if offer {
		switch {
		case tasks.IsMethod(msg.Method):
			return nil, nil, h.serveTask(w, r, &msg, next)
		case (msg.Method == "initialize" || msg.Method == "tools/list" || msg.Method == "server/discover") && knowsTasks(r.Header, &msg):
			return nil, nil, h.advertise(w, r, &msg, next)
		case msg.IsToolCall() && h.cfg.Holds(msg.Tool) && tasks.Requested(msg.Params):
			return nil, nil, h.createTask(w, r, body, &msg, next, false)
		case msg.IsToolCall() && h.cfg.Holds(msg.Tool) && !h.Tasks.ownV2.Load() && tasks.RequestedV2(msg.Params):
			return nil, nil, h.createTask(w, r, body, &msg, next, true)
		}
	}
	if msg.Method == mcpmsg.MethodCancelled && msg.ID == nil {
		return nil, nil, h.cancel(w, r, &msg, next)
	}
	if !msg.IsToolCall() || !h.cfg.Holds(msg.Tool) || !mcpmsg.AcceptsEventStream(r.Header) {
		return nil, nil, next(w, r)
	}

	if !h.held.Acquire(h.cfg.MaxHeld) {
		h.log.Warn("held call refused: too many held calls",
			zap.String("tool", msg.Tool), zap.Int("max_held", h.cfg.MaxHeld))
		keepalive.WriteError(w, http.StatusServiceUnavailable, msg.ID, mcpmsg.CodeServerBusy,
			keepalive.BusyMessage)
		return nil, nil, nil
	}
	return []*keepalive.Call{keepalive.NewCall(&msg, time.Now())}, body, nil
}

// cancel handles a notifications/cancelled: if it names a call this handler
// holds for the same owner, that call's stream ends at once with nothing more
// for its id and its upstream request is cancelled; the notification itself
// goes to next either way.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, msg *mcpmsg.Message, next keepalive.Next) error {
	key := mcpmsg.IDKey(msg.RequestID)
	cancelled := false
	if c := h.index.lookup(indexKey(r.Header, key)); c != nil {
		cancelled = c.cancelInGrace()
	}
	if st := h.store.Lookup(streams.OwnerOf(r.Header), key); !cancelled && st != nil {
		cancelled = st.Cancel()
	}
	if cancelled {
		h.log.Info("held call cancelled by the client", zap.ByteString("id", msg.RequestID))
	} else if h.Remote != nil {
		h.cancelRemote(r, key)
	}
	return next(w, r)
}

// mayConcernTasks reports whether a request body may be one that offering
// tasks changes: a task method, initialize, server/discover, or a tools/list
// from a client at a revision that knows tasks (knowsTasks), so that the
// tools/list of older clients, a hot path, is not parsed for nothing. A
// method spelled with escapes is merely not changed.
func mayConcernTasks(body []byte, header http.Header) bool {
	return bytes.Contains(body, []byte("tasks/")) || bytes.Contains(body, []byte("initialize")) ||
		bytes.Contains(body, []byte("server/discover")) ||
		(bytes.Contains(body, []byte("tools/list")) && revision(header) >= revPolling)
}

// Wait waits until every call this handler held has ended.
func (h *Handler) Wait() { h.calls.Wait() }

// readBody reads all of body, failing with errBodyTooLarge past limit bytes.
// A known length (size, or -1) sizes the buffer at once.
func readBody(body io.Reader, size, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if size > 0 && size <= limit {
		buf.Grow(int(size) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(io.LimitReader(body, limit+1))
	b := buf.Bytes()
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}
