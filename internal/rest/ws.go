package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// wsWriteTimeout bounds one write to a WebSocket client.
const wsWriteTimeout = 30 * time.Second

// wsIn is a message from a WebSocket client: a call, or the cancel of one.
type wsIn struct {
	ID        json.RawMessage `json:"id"`
	Arguments map[string]any  `json:"arguments"`
	Cancel    bool            `json:"cancel"`
}

// wsOut is a message to a WebSocket client about the call ID: started,
// progress, message (an upstream log message), result or error.
type wsOut struct {
	ID    json.RawMessage `json:"id"`
	Event string          `json:"event"`
	Data  any             `json:"data,omitempty"`
	Error *apiError       `json:"error,omitempty"`
}

// wsSocket is one WebSocket client with its calls in flight.
type wsSocket struct {
	g    *Gateway
	conn *websocket.Conn
	ctx  context.Context
	tool *toolInfo
	mu   sync.Mutex
	// calls are the cancels of the calls in flight, by id.
	calls map[string]context.CancelFunc
	wg    sync.WaitGroup
}

// serveWebSocket serves GET /ws/tools/{name}: many calls of one tool over
// one socket, each with an id of the client's choosing. The socket closing
// cancels its calls upstream.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request, name string) {
	info, err := g.lookup(r.Context(), name)
	if err != nil {
		writeError(w, callError(r.Context(), err))
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept answered the client
	}
	conn.SetReadLimit(g.cfg.MaxRequestBody)
	ctx, cancel := context.WithCancel(r.Context())
	s := &wsSocket{g: g, conn: conn, ctx: ctx, tool: info, calls: map[string]context.CancelFunc{}}
	err = s.readLoop()
	cancel()
	s.wg.Wait()
	if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
		_ = conn.Close(websocket.StatusNormalClosure, "")
		return
	}
	_ = conn.CloseNow()
}

// readLoop reads the client's messages until the socket ends.
func (s *wsSocket) readLoop() error {
	for {
		typ, data, err := s.conn.Read(s.ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			s.send(wsOut{ID: json.RawMessage("null"), Event: "error",
				Error: errorf(http.StatusBadRequest, codeBadRequest, "messages must be JSON text")})
			continue
		}
		var in wsIn
		if err := json.Unmarshal(data, &in); err != nil {
			s.send(wsOut{ID: json.RawMessage("null"), Event: "error",
				Error: errorf(http.StatusBadRequest, codeBadRequest, `a message must be {"id": ..., "arguments": {...}}: %v`, err)})
			continue
		}
		if len(in.ID) == 0 || string(in.ID) == "null" {
			s.send(wsOut{ID: json.RawMessage("null"), Event: "error",
				Error: errorf(http.StatusBadRequest, codeBadRequest, "a message needs an id")})
			continue
		}
		if in.Cancel {
			s.cancel(in.ID)
			continue
		}
		s.start(in)
	}
}

// cancel cancels the call id; its goroutine reports the end.
func (s *wsSocket) cancel(id json.RawMessage) {
	s.mu.Lock()
	stop := s.calls[string(id)]
	s.mu.Unlock()
	if stop == nil {
		s.send(wsOut{ID: id, Event: "error", Error: errorf(http.StatusNotFound, codeNotFound, "no call in flight with this id")})
		return
	}
	stop()
}

// start begins the call that in asks for.
func (s *wsSocket) start(in wsIn) {
	if in.Arguments == nil {
		in.Arguments = map[string]any{}
	}
	if ae := s.tool.validate(in.Arguments); ae != nil {
		s.send(wsOut{ID: in.ID, Event: "error", Error: ae})
		return
	}
	key := string(in.ID)
	s.mu.Lock()
	if s.calls[key] != nil {
		s.mu.Unlock()
		s.send(wsOut{ID: in.ID, Event: "error",
			Error: errorf(http.StatusConflict, codeBadRequest, "a call with this id is in flight")})
		return
	}
	ctx, stop := context.WithCancel(s.ctx)
	s.calls[key] = stop
	s.mu.Unlock()
	c := &call{tool: s.tool, args: in.Arguments, start: time.Now(), events: make(chan event, eventBuffer)}
	s.send(wsOut{ID: in.ID, Event: "started"})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.calls, key)
			s.mu.Unlock()
			stop()
		}()
		s.follow(ctx, in.ID, c)
	}()
}

// follow runs call c and sends its events, keep-alives and end.
func (s *wsSocket) follow(ctx context.Context, id json.RawMessage, c *call) {
	done := make(chan outcomeOf, 1)
	go func() {
		res, err := s.g.run(ctx, c)
		done <- outcomeOf{res, err}
	}()
	k := &keeper{tool: c.tool.tool.Name, start: c.start}
	ticker := time.NewTicker(s.g.cfg.Interval)
	defer ticker.Stop()
	for {
		select {
		case ev := <-c.events:
			ev = k.pass(ev)
			s.send(wsOut{ID: id, Event: ev.name, Data: ev.data})
		case now := <-ticker.C:
			if p := k.tick(now); p != nil {
				s.send(wsOut{ID: id, Event: "progress", Data: p})
			}
		case o := <-done:
			for drained := false; !drained; {
				select {
				case ev := <-c.events:
					ev = k.pass(ev)
					s.send(wsOut{ID: id, Event: ev.name, Data: ev.data})
				default:
					drained = true
				}
			}
			if o.err != nil {
				s.send(wsOut{ID: id, Event: "error", Error: callError(ctx, o.err)})
			} else {
				s.send(wsOut{ID: id, Event: "result", Data: newCallResult(o.res)})
			}
			return
		}
	}
}

// send writes one message; the socket's writes are safe for concurrent use.
// A failed write is left to the read loop, which sees the socket end.
func (s *wsSocket) send(out wsOut) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), wsWriteTimeout)
	defer cancel()
	_ = wsjson.Write(ctx, s.conn, out)
}
