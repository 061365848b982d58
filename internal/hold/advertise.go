package hold

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/caddy-stata/caddy-stata/internal/keepalive"
	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
	"github.com/caddy-stata/caddy-stata/internal/tasks"
)

// advertiseLimit is the largest answer to initialize or tools/list that is
// rewritten to advertise tasks; a larger one passes as it came.
const advertiseLimit = 1 << 20

// advertise passes an initialize or tools/list request to next and
// rewrites the upstream's answer to offer tasks: the tasks capability in
// the initialize result (unless the upstream declares its own, which is
// then remembered for the session, whose task requests pass through), and
// execution.taskSupport "optional" for each held tool. The answer may be
// JSON or an event stream; anything else passes as it came.
func (h *Handler) advertise(w http.ResponseWriter, r *http.Request, msg *mcpmsg.Message, next keepalive.Next) error {
	cw := &captureAll{header: make(http.Header)}
	err := next(cw, r)
	if cw.status == 0 {
		if err != nil {
			return err
		}
		cw.status = http.StatusOK
	}
	body := cw.buf.Bytes()
	ct := cw.header.Get("Content-Type")
	fn := func(result json.RawMessage) (json.RawMessage, error) {
		return tasks.AdvertiseTools(result, h.cfg.Holds)
	}
	if msg.Method == "server/discover" {
		fn = func(result json.RawMessage) (json.RawMessage, error) {
			out, declared, err := tasks.AdvertiseDiscover(result)
			if declared {
				// 2026-07-28 has no sessions: the upstream behind this
				// handler has the extension, for every client.
				h.Tasks.ownV2.Store(true)
			}
			return out, err
		}
	}
	if msg.Method == "initialize" {
		fn = func(result json.RawMessage) (json.RawMessage, error) {
			out, declared, err := tasks.AdvertiseInitialize(result)
			if declared {
				if s := cw.header.Get("Mcp-Session-Id"); s != "" {
					h.Tasks.Registry.SetOwn(s)
				}
			}
			return out, err
		}
	}
	if cw.status == http.StatusOK && !cw.over {
		switch {
		case mcpmsg.IsMediaType(ct, "application/json"):
			if out, ok := tasks.RewriteResult(bytes.TrimSpace(body), msg.ID, mcpmsg.SameID, fn); ok {
				body = out
			}
		case mcpmsg.IsMediaType(ct, "text/event-stream"):
			body = rewriteDataLines(body, func(data []byte) ([]byte, bool) {
				return tasks.RewriteResult(data, msg.ID, mcpmsg.SameID, fn)
			})
		}
	}
	hdr := w.Header()
	for k, v := range cw.header {
		hdr[k] = v
	}
	if hdr.Get("Content-Length") != "" {
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(cw.status)
	_, _ = w.Write(body)
	return err
}

// knowsTasks reports whether the client of an initialize or tools/list
// request speaks a protocol revision that has tasks (2025-11-25 on): the
// one it asks for in initialize, the one it names in its header after.
// Older clients get the upstream's answers untouched.
func knowsTasks(h http.Header, msg *mcpmsg.Message) bool {
	switch msg.Method {
	case "server/discover":
		return true
	case "tools/list":
		return revision(h) >= revPolling
	}
	var p struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	return json.Unmarshal(msg.Params, &p) == nil && p.ProtocolVersion >= revPolling
}

// rewriteDataLines passes each one-line data field of an event stream
// through fn, keeping every other byte as it came.
func rewriteDataLines(stream []byte, fn func([]byte) ([]byte, bool)) []byte {
	var out bytes.Buffer
	for len(stream) > 0 {
		line := stream
		if i := bytes.IndexByte(stream, '\n'); i >= 0 {
			line = stream[:i+1]
		}
		stream = stream[len(line):]
		content := bytes.TrimRight(line, "\r\n")
		if data, ok := bytes.CutPrefix(content, []byte("data:")); ok {
			data = bytes.TrimPrefix(data, []byte(" "))
			if rewritten, ok := fn(data); ok {
				out.WriteString("data: ")
				out.Write(rewritten)
				out.Write(line[len(content):])
				continue
			}
		}
		out.Write(line)
	}
	return out.Bytes()
}

// captureAll is a ResponseWriter that keeps a whole answer, up to
// advertiseLimit bytes, past which it keeps the rest but notes it is over.
type captureAll struct {
	header http.Header
	status int
	buf    bytes.Buffer
	over   bool
}

func (c *captureAll) Header() http.Header { return c.header }

func (c *captureAll) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
		c.header = c.header.Clone()
	}
}

func (c *captureAll) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	c.over = c.over || c.buf.Len()+len(p) > advertiseLimit
	return c.buf.Write(p)
}

// Flush lets the next handler flush; the whole answer is written at the end.
func (c *captureAll) Flush() {}
