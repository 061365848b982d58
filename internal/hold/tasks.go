package hold

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/streams"
	"github.com/caddy-stata/caddy-stata/internal/tasks"
)

// Tasks offers MCP tasks (protocol 2025-11-25) for held tools on behalf of
// an upstream that has none. A task is a held call whose client got a task
// handle at once instead of the stream: the call's stream keeps its events
// and its response (mirrored to the shared store when there is one), and
// the task methods read them.
type Tasks struct {
	// Config says how long tasks live, the poll interval suggested to
	// clients, and the most tasks of a session.
	Config tasks.Config
	// Registry holds each session's tasks; handlers that serve each other's
	// calls share it.
	Registry *tasks.Registry
	// Observer, when set, is told of tasks' changes and polls.
	Observer tasks.Observer

	// ownV2 is set once the upstream declared the 2026-07-28 extension
	// itself: its calls then pass through untouched.
	ownV2 atomic.Bool
}

// task is what a held call that is a task knows of it.
type task struct {
	t     *Tasks
	entry *tasks.Entry
	ttl   time.Duration
}

// taskToken is the progress token of the upstream request of a task whose
// client gave none.
const taskToken = "mcp-keepalive-task"

// createTask answers a tools/call that asks for a task: the call is held
// with no client attached, and its client gets the CreateTaskResult at once.
// The upstream gets the request without params.task.
func (h *Handler) createTask(w http.ResponseWriter, r *http.Request, body []byte, msg *mcpmsg.Message, next keepalive.Next, v2 bool) error {
	t := h.Tasks
	var up []byte
	var requested int64
	var err error
	if v2 {
		up, err = tasks.WithToken(body, taskToken)
	} else {
		up, requested, err = tasks.Strip(body, taskToken)
	}
	if err != nil {
		keepalive.WriteError(w, http.StatusOK, msg.ID, tasks.CodeInvalidParams, "mcp_keepalive: "+err.Error())
		return nil
	}
	upMsg, err := mcpmsg.Parse(up)
	if err != nil {
		return next(w, r)
	}
	ttl := t.Config.TTLFor(requested)
	if h.cfg.Resume > 0 && ttl > h.cfg.Resume {
		ttl = h.cfg.Resume
	}
	owner := streams.OwnerOf(r.Header).Digest()
	now := time.Now()
	if !t.Registry.Room(owner, t.Config.Max, now) {
		keepalive.WriteError(w, http.StatusOK, msg.ID, mcpmsg.CodeServerBusy,
			"mcp_keepalive: this session has "+strconv.Itoa(t.Config.Max)+" tasks already (max_tasks)")
		return nil
	}
	if !h.held.Acquire(h.cfg.MaxHeld) {
		h.log.Warn("task refused: too many held calls", zap.String("tool", msg.Tool), zap.Int("max_held", h.cfg.MaxHeld))
		keepalive.WriteError(w, http.StatusServiceUnavailable, msg.ID, mcpmsg.CodeServerBusy, keepalive.BusyMessage)
		return nil
	}
	req := keepalive.NewCall(&upMsg, now)
	c := &call{
		h: h, reqs: []*keepalive.Call{req}, start: now,
		// A task's stream keeps ids for the shared store, and its client
		// leaving is no cancel: it comes back by the task's id.
		pol: policy{ids: true},
		key: indexKey(r.Header, mcpmsg.IDKey(msg.ID)), w: w, r: r,
		header: make(http.Header), settled: make(chan struct{}),
		task: &task{t: t, ttl: ttl},
	}
	c.prod.c = c
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c.cancel = cancel
	r.Header.Del("Accept-Encoding")
	upReq := r.WithContext(ctx)
	upReq.Body, upReq.ContentLength = io.NopCloser(bytes.NewReader(up)), int64(len(up))
	if h.Detach != nil {
		upReq = h.Detach(upReq)
	}
	c.mu.Lock()
	c.commitLocked()
	id := tasks.ID{Stream: c.st.ID, Created: now, TTL: ttl}
	c.task.entry = tasks.NewEntry(id, msg.ID)
	c.mu.Unlock()
	t.Registry.Add(owner, c.task.entry)
	if h.Remote != nil {
		h.shareTask(streams.OwnerOf(r.Header), id)
	}
	t.observer().Changed(tasks.Working)
	h.calls.Add(1)
	go func() {
		defer h.calls.Done()
		c.run(next, upReq)
	}()
	<-c.settled
	c.mu.Lock()
	detach := c.detach
	c.mu.Unlock()
	if detach != nil {
		detach()
	}
	task := tasks.New(id, tasks.Working, "", now, t.Config.Poll)
	if v2 {
		if resp := h.answeredInGrace(r, c.st); resp != nil {
			keepalive.WriteJSON(w, http.StatusOK, resp)
			return nil
		}
		h.log.Info("task created", zap.String("tool", msg.Tool), zap.String("task", id.String()), zap.Duration("ttl", ttl))
		v, _ := tasks.V2(task, "task", nil)
		keepalive.WriteJSON(w, http.StatusOK, tasks.Response(msg.ID, v))
		return nil
	}
	h.log.Info("task created", zap.String("tool", msg.Tool), zap.String("task", id.String()), zap.Duration("ttl", ttl))
	keepalive.WriteJSON(w, http.StatusOK, tasks.Response(msg.ID, tasks.CreateResult{Task: task}))
	return nil
}

// answeredInGrace waits up to the grace period for a 2026-07-28 task's
// call to end, and returns its response if it did: the server decides per
// call whether to answer with a task, and a quick call gets its answer.
func (h *Handler) answeredInGrace(r *http.Request, st *streams.Stream) []byte {
	t := time.NewTimer(h.cfg.Grace)
	defer t.Stop()
	for {
		b := st.Read(0, 0)
		if b.Done {
			if b.Cancelled {
				return nil
			}
			resp, err := finalEvent(st)
			if err != nil {
				return nil
			}
			return resp
		}
		select {
		case <-b.Changed:
		case <-t.C:
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

// observer returns t's observer, or one that observes nothing.
func (t *Tasks) observer() tasks.Observer {
	if t.Observer == nil {
		return tasks.NopObserver{}
	}
	return t.Observer
}

// ended records the end of a task's call; c.mu must be held.
func (tk *task) ended(c *call) {
	s, message := tasks.Cancelled, ""
	if c.prod.outcome != keepalive.OutcomeCancelled {
		s, message = localOutcome(c.st)
	}
	if tk.entry.Finish(s, message, time.Now()) {
		tk.t.observer().Changed(s)
	}
}

// retention returns how long a task's stream is kept once its call is over:
// until the task expires.
func (tk *task) retention() time.Duration {
	return max(time.Until(tk.entry.ID.Expires()), 0)
}

// serveTask answers a task method.
func (h *Handler) serveTask(w http.ResponseWriter, r *http.Request, msg *mcpmsg.Message, next keepalive.Next) error {
	t := h.Tasks
	p, err := tasks.ParseParams(msg.Params)
	if err != nil {
		h.taskError(w, msg.ID, "mcp_keepalive: "+err.Error())
		return nil
	}
	t.observer().Served(msg.Method)
	owner := streams.OwnerOf(r.Header)
	if msg.Method == tasks.MethodList {
		h.listTasks(w, r, msg.ID, owner, p.Cursor)
		return nil
	}
	id, ok := tasks.ParseID(p.TaskID)
	switch {
	case !ok:
		h.taskError(w, msg.ID, errUnknownTask)
		return nil
	case !time.Now().Before(id.Expires()):
		h.taskError(w, msg.ID, "mcp_keepalive: task "+strconv.Quote(p.TaskID)+" has expired: its ttl of "+
			id.TTL.String()+" since "+id.Created.UTC().Format(time.RFC3339)+" is over")
		return nil
	}
	entry := t.Registry.Get(owner.Digest(), p.TaskID)
	var st *streams.Stream
	if entry != nil {
		st = h.store.Get(id.Stream)
	}
	if entry == nil && h.Remote != nil {
		return h.serveRemoteTask(w, r, msg, id, owner, next)
	}
	if entry == nil {
		h.taskError(w, msg.ID, errUnknownTask)
		return nil
	}
	switch msg.Method {
	case tasks.MethodGet:
		if revision(r.Header) >= revStateless {
			h.getV2(w, msg.ID, h.localTask(entry, st), st)
			return nil
		}
		keepalive.WriteJSON(w, http.StatusOK, tasks.Response(msg.ID, h.localTask(entry, st)))
	case tasks.MethodCancel:
		h.cancelTask(w, r, msg, entry, st, next)
	case tasks.MethodResult:
		h.taskResult(w, r, msg.ID, entry, st)
	}
	return nil
}

// taskError answers a task method with the error of an unknown, expired or
// finished task.
func (h *Handler) taskError(w http.ResponseWriter, id json.RawMessage, message string) {
	keepalive.WriteError(w, http.StatusOK, id, tasks.CodeInvalidParams, message)
}

// listTasks answers tasks/list with the session's tasks: those of this
// process, and with a shared store those of every process, in the order of
// their creation, a page at a time.
func (h *Handler) listTasks(w http.ResponseWriter, r *http.Request, id json.RawMessage, owner streams.Owner, cursor string) {
	now := time.Now()
	if h.Remote == nil {
		entries, next, err := h.Tasks.Registry.List(owner.Digest(), cursor, tasks.PageSize, now)
		if err != nil {
			h.taskError(w, id, "mcp_keepalive: "+err.Error())
			return
		}
		res := tasks.ListResult{Tasks: make([]tasks.Task, 0, len(entries)), NextCursor: next}
		for _, e := range entries {
			res.Tasks = append(res.Tasks, h.localTask(e, h.store.Get(e.ID.Stream)))
		}
		keepalive.WriteJSON(w, http.StatusOK, tasks.Response(id, res))
		return
	}
	ids, local := h.allTasks(r.Context(), owner, now)
	start := 0
	if cursor != "" {
		i := slices.IndexFunc(ids, func(x tasks.ID) bool { return x.String() == cursor })
		if i < 0 {
			h.taskError(w, id, "mcp_keepalive: "+tasks.ErrCursor.Error())
			return
		}
		start = i + 1
	}
	page := ids[start:]
	res := tasks.ListResult{Tasks: make([]tasks.Task, 0, min(len(page), tasks.PageSize))}
	if len(page) > tasks.PageSize {
		page = page[:tasks.PageSize]
		res.NextCursor = page[len(page)-1].String()
	}
	for _, x := range page {
		if e := local[x.String()]; e != nil {
			res.Tasks = append(res.Tasks, h.localTask(e, h.store.Get(x.Stream)))
			continue
		}
		// A task whose stream the store no longer has (gone with an
		// expiry, or Redis restarted) is left out.
		if t, ok := h.remoteTask(r.Context(), x, owner); ok {
			res.Tasks = append(res.Tasks, t)
		}
	}
	keepalive.WriteJSON(w, http.StatusOK, tasks.Response(id, res))
}

// allTasks returns the ids of owner's tasks that have not expired at now,
// this process's and those the shared store lists, in the order of their
// creation, and this process's entries by id. When the shared store fails,
// the list is this process's alone (the failure is counted and logged by
// the store).
func (h *Handler) allTasks(ctx context.Context, owner streams.Owner, now time.Time) ([]tasks.ID, map[string]*tasks.Entry) {
	entries, _, _ := h.Tasks.Registry.List(owner.Digest(), "", math.MaxInt, now)
	local := make(map[string]*tasks.Entry, len(entries))
	ids := make([]tasks.ID, 0, len(entries))
	for _, e := range entries {
		local[e.ID.String()] = e
		ids = append(ids, e.ID)
	}
	shared, err := h.Remote.Tasks(ctx, owner, now)
	if err != nil {
		h.log.Warn("tasks/list answered with this instance's tasks only: the stream store failed", zap.Error(err))
	}
	for _, s := range shared {
		if x, ok := tasks.ParseID(s); ok && local[s] == nil && now.Before(x.Expires()) {
			ids = append(ids, x)
		}
	}
	slices.SortFunc(ids, func(a, b tasks.ID) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.String(), b.String())
	})
	return ids, local
}

// remoteTask returns the state of a task that another process runs or ran,
// read from the shared store; false when it cannot be read.
func (h *Handler) remoteTask(ctx context.Context, id tasks.ID, owner streams.Owner) (tasks.Task, bool) {
	rs, err := h.Remote.Open(ctx, id.Stream, owner)
	if err != nil {
		return tasks.Task{}, false
	}
	st, err := readRemote(ctx, rs)
	if err != nil {
		return tasks.Task{}, false
	}
	return tasks.New(id, st.status, st.message, id.Created, h.Tasks.Config.Poll), true
}

// shareTask records a new task in the shared store, so that tasks/list on
// every process lists it. It does not wait for the store: the task's
// creation does not depend on it.
func (h *Handler) shareTask(owner streams.Owner, id tasks.ID) {
	h.calls.Add(1)
	go func() {
		defer h.calls.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Remote.AddTask(ctx, owner, id.String(), id.Expires()); err != nil {
			h.log.Warn("task not listed in the stream store: tasks/list on other instances will miss it",
				zap.String("task", id.String()), zap.Error(err))
		}
	}()
}

// localTask returns the state of a task this process runs or ran; st is its
// stream, nil once it is gone.
func (h *Handler) localTask(e *tasks.Entry, st *streams.Stream) tasks.Task {
	s, message, updated := e.State()
	if !s.Terminal() && st != nil {
		message = latestProgress(st.Read(0, 0))
	}
	return tasks.New(e.ID, s, message, updated, h.Tasks.Config.Poll)
}

// latestProgress returns the message of the latest progress in b, the
// upstream's own or a keep-alive.
func latestProgress(b streams.Batch) string {
	for i := len(b.KeepAlives) - 1; i >= 0; i-- {
		if m, ok := tasks.ProgressMessage(b.KeepAlives[i].Data); ok {
			return m
		}
	}
	for i := len(b.Events) - 1; i >= 0; i-- {
		if m, ok := tasks.ProgressMessage(b.Events[i].Data); ok {
			return m
		}
	}
	return ""
}

// localOutcome returns the status and message of a task whose call is over,
// from the response that ends its stream.
func localOutcome(st *streams.Stream) (tasks.Status, string) {
	resp, err := finalEvent(st)
	if err != nil {
		return tasks.Failed, "mcp_keepalive: " + err.Error()
	}
	return tasks.Outcome(resp)
}

// errNoResponse is the cause of a task whose stream has no response.
var errNoResponse = errors.New("the call's response is not kept")

// finalEvent returns the data of the last event of st, the call's response
// once it is over.
func finalEvent(st *streams.Stream) ([]byte, error) {
	b := st.Read(0, 0)
	if len(b.Events) == 0 {
		return nil, errNoResponse
	}
	ev := b.Events[len(b.Events)-1]
	if ev.Data != nil {
		return ev.Data, nil
	}
	rd, err := st.Open(ev)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(rd)
}

// taskResult answers tasks/result once the task is over: with the call's
// own result or error, tied to the task.
func (h *Handler) taskResult(w http.ResponseWriter, r *http.Request, id json.RawMessage, e *tasks.Entry, st *streams.Stream) {
	for {
		if s, _, _ := e.State(); s.Terminal() || st == nil {
			break
		}
		b := st.Read(0, 0)
		if b.Done {
			break
		}
		select {
		case <-b.Changed:
		case <-r.Context().Done():
			return
		}
	}
	s, message, _ := e.State()
	switch {
	case s == tasks.Cancelled:
		keepalive.WriteError(w, http.StatusOK, id, mcpmsg.CodeInternalError, "mcp_keepalive: task "+e.ID.String()+" was cancelled: "+message)
		return
	case st == nil:
		keepalive.WriteError(w, http.StatusOK, id, mcpmsg.CodeInternalError, "mcp_keepalive: task "+e.ID.String()+
			" is "+string(s)+", but its result was dropped to stay within store_limit")
		return
	}
	resp, err := finalEvent(st)
	if err == nil {
		resp, err = tasks.Payload(resp, id, e.ID.String())
	}
	if err != nil {
		keepalive.WriteError(w, http.StatusOK, id, mcpmsg.CodeInternalError, "mcp_keepalive: "+err.Error())
		return
	}
	keepalive.WriteJSON(w, http.StatusOK, resp)
}

// cancelTask answers tasks/cancel: a task still working is cancelled (the
// upstream gets notifications/cancelled for its request, and the request is
// ended); a finished one is left as it is, and the client gets an error.
func (h *Handler) cancelTask(w http.ResponseWriter, r *http.Request, msg *mcpmsg.Message, e *tasks.Entry, st *streams.Stream, next keepalive.Next) {
	now := time.Now()
	if !e.Finish(tasks.Cancelled, "cancelled by the client", now) {
		s, _, _ := e.State()
		h.taskError(w, msg.ID, "mcp_keepalive: task "+e.ID.String()+" is "+string(s)+" already: it cannot be cancelled")
		return
	}
	h.Tasks.observer().Changed(tasks.Cancelled)
	h.notifyCancelled(r, e.Request, next)
	if st != nil && st.Cancel() {
		h.log.Info("task cancelled by the client", zap.String("task", e.ID.String()))
	}
	if revision(r.Header) >= revStateless {
		keepalive.WriteJSON(w, http.StatusOK, tasks.Response(msg.ID, tasks.Complete{ResultType: "complete"}))
		return
	}
	keepalive.WriteJSON(w, http.StatusOK, tasks.Response(msg.ID, h.localTask(e, nil)))
}

// getV2 answers a 2026-07-28 tasks/get with t, and the call's result or
// error once it is over.
func (h *Handler) getV2(w http.ResponseWriter, id json.RawMessage, t tasks.Task, st *streams.Stream) {
	var resp []byte
	if (t.Status == tasks.Completed || t.Status == tasks.Failed) && st != nil {
		resp, _ = finalEvent(st)
	}
	v, err := tasks.V2(t, "complete", resp)
	if err != nil {
		keepalive.WriteError(w, http.StatusOK, id, mcpmsg.CodeInternalError, "mcp_keepalive: "+err.Error())
		return
	}
	keepalive.WriteJSON(w, http.StatusOK, tasks.Response(id, v))
}

// notifyCancelled sends the upstream a notifications/cancelled for its
// request request, on the chain of r, as a client would.
func (h *Handler) notifyCancelled(r *http.Request, request json.RawMessage, next keepalive.Next) {
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"method":  mcpmsg.MethodCancelled,
		"params":  map[string]any{"requestId": request, "reason": "the client cancelled the task"},
	})
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	n := r.Clone(ctx)
	n.Method = http.MethodPost
	n.Body, n.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	n.Header.Set("Content-Type", "application/json")
	n.Header.Del("Accept-Encoding")
	if h.Detach != nil {
		n = h.Detach(n)
	}
	if err := next(discard{}, n); err != nil {
		h.log.Warn("task's cancel not passed on upstream", zap.Error(err))
	}
}

// discard is a ResponseWriter that drops what is written.
type discard struct{}

func (discard) Header() http.Header         { return make(http.Header) }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

// errUnknownTask is the message of a task that does not exist, or is not
// the client's: the two are told apart by nobody.
const errUnknownTask = "mcp_keepalive: unknown task"
