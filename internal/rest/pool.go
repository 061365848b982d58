package rest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"
)

// connectTimeout bounds the initialize handshake of a new upstream session.
const connectTimeout = time.Minute

// session is one upstream MCP session of the pool.
type session struct {
	cs *mcp.ClientSession
	// The fields below are guarded by pool.mu.
	inflight int
	dead     bool
	// listeners are the streaming calls in flight on this session, which
	// receive its log messages.
	listeners map[*call]struct{}
}

// pool keeps a few upstream sessions, opened on demand, reused by every call,
// and dropped when the upstream has lost them.
type pool struct {
	client  *mcp.Client
	cfg     Config
	ctx     context.Context // the pool's lifetime, ended by close
	stop    context.CancelFunc
	logger  *zap.Logger
	mu      sync.Mutex
	all     []*session
	byCS    map[*mcp.ClientSession]*session
	opening int // sessions being opened
	// legacy tells that the upstream speaks HTTP+SSE, not Streamable HTTP.
	legacy  atomic.Bool
	closing bool
	calls   int // calls holding a session
	opened  int64
	dropped int64
}

// newPool returns an empty pool whose sessions are clients of cfg.Upstream.
func newPool(client *mcp.Client, cfg Config) *pool {
	ctx, stop := context.WithCancel(context.Background())
	p := &pool{client: client, cfg: cfg, ctx: ctx, stop: stop, logger: cfg.Logger,
		byCS: map[*mcp.ClientSession]*session{}}
	return p
}

// acquire returns a session for one call: the least busy open one, or a new
// one when every open session is busy and the pool has room. release must
// be called when the call ends.
func (p *pool) acquire(ctx context.Context) (*session, error) {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return nil, errors.New("the handler is shutting down")
	}
	var best *session
	for _, s := range p.all {
		if !s.dead && (best == nil || s.inflight < best.inflight) {
			best = s
		}
	}
	if best != nil && (best.inflight == 0 || len(p.all)+p.opening >= p.cfg.Sessions) {
		best.inflight++
		p.calls++
		p.mu.Unlock()
		return best, nil
	}
	p.opening++
	p.mu.Unlock()

	s, err := p.open(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opening--
	if err != nil {
		return nil, err
	}
	s.inflight++
	p.calls++
	return s, nil
}

// open connects a new session and adds it to the pool. The session outlives
// ctx: only the wait for it ends with ctx.
func (p *pool) open(ctx context.Context) (*session, error) {
	type outcome struct {
		s   *session
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		s, err := p.connect()
		done <- outcome{s, err}
	}()
	select {
	case o := <-done:
		return o.s, o.err
	case <-ctx.Done():
		// The session, if it comes, joins the pool for later calls.
		return nil, ctx.Err()
	}
}

// connect opens one session and adds it to the pool.
func (p *pool) connect() (*session, error) {
	cs, err := p.dial()
	if err != nil {
		return nil, err
	}
	if caps := cs.InitializeResult().Capabilities; caps != nil && caps.Logging != nil {
		// Servers send log messages only once a level is set.
		levelCtx, cancel := context.WithTimeout(p.ctx, connectTimeout)
		err := cs.SetLoggingLevel(levelCtx, &mcp.SetLoggingLevelParams{Level: "info"})
		cancel()
		if err != nil {
			p.logger.Debug("upstream refused the logging level", zap.Error(err))
		}
	}
	s := &session{cs: cs, listeners: map[*call]struct{}{}}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		_ = cs.Close()
		return nil, errors.New("the handler is shutting down")
	}
	p.all = append(p.all, s)
	p.byCS[cs] = s
	p.opened++
	p.mu.Unlock()
	p.logger.Debug("upstream session opened", zap.String("session", cs.ID()))
	go func() {
		// A session the upstream or the network ended leaves the pool.
		_ = cs.Wait()
		p.drop(s, "session ended")
	}()
	return s, nil
}

// dial connects to the upstream over Streamable HTTP, or over the legacy
// HTTP+SSE transport when the upstream, not knowing Streamable HTTP, answers
// a GET with its event stream (the fall back of the TypeScript SDK's
// clients). Once found, the legacy transport is used from the start.
func (p *pool) dial() (*mcp.ClientSession, error) {
	if !p.legacy.Load() {
		ctx, cancel := context.WithTimeout(p.ctx, connectTimeout)
		defer cancel()
		cs, err := p.client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: p.cfg.Upstream,
			HTTPClient: p.cfg.HTTPClient, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
		var netErr net.Error
		if err == nil || errors.As(err, &netErr) {
			// An upstream that cannot be reached speaks nothing at all.
			return cs, wrapConnect(err)
		}
		// The legacy transport's event stream lives on the connect context.
		cs, legacyErr := p.client.Connect(p.ctx, &mcp.SSEClientTransport{Endpoint: p.cfg.Upstream,
			HTTPClient: p.cfg.HTTPClient}, nil)
		if legacyErr != nil {
			return nil, wrapConnect(err)
		}
		p.legacy.Store(true)
		p.logger.Info("upstream speaks the legacy HTTP+SSE transport", zap.String("upstream", p.cfg.Upstream))
		return cs, nil
	}
	cs, err := p.client.Connect(p.ctx, &mcp.SSEClientTransport{Endpoint: p.cfg.Upstream, HTTPClient: p.cfg.HTTPClient}, nil)
	return cs, wrapConnect(err)
}

// wrapConnect gives a connect error its context.
func wrapConnect(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("connecting to the upstream: %w", err)
}

// release gives back a session acquired for a call.
func (p *pool) release(s *session) {
	p.mu.Lock()
	s.inflight--
	p.calls--
	last := p.closing && p.calls == 0
	p.mu.Unlock()
	if last {
		p.closeAll()
	}
}

// drop takes s out of the pool, so that no new call uses it, and closes it.
// Calls still on it end with its errors.
func (p *pool) drop(s *session, why string) {
	p.mu.Lock()
	if s.dead {
		p.mu.Unlock()
		return
	}
	s.dead = true
	delete(p.byCS, s.cs)
	for i, o := range p.all {
		if o == s {
			p.all = append(p.all[:i], p.all[i+1:]...)
			break
		}
	}
	p.dropped++
	p.mu.Unlock()
	p.logger.Debug("upstream session dropped", zap.String("session", s.cs.ID()), zap.String("why", why))
	go s.cs.Close() // closing may send a DELETE: never on a caller's path
}

// listen makes c receive the log messages of s until unlisten.
func (p *pool) listen(s *session, c *call) {
	p.mu.Lock()
	s.listeners[c] = struct{}{}
	p.mu.Unlock()
}

// unlisten ends listen.
func (p *pool) unlisten(s *session, c *call) {
	p.mu.Lock()
	delete(s.listeners, c)
	p.mu.Unlock()
}

// onLog hands a log message of cs to the streaming calls in flight on it.
func (p *pool) onLog(cs *mcp.ClientSession, params *mcp.LoggingMessageParams) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.byCS[cs]
	if s == nil {
		return
	}
	for c := range s.listeners {
		c.send(event{name: "message", data: messageEvent{Level: string(params.Level), Logger: params.Logger, Data: params.Data}})
	}
}

// poolStats is what /stats shows of the pool.
type poolStats struct {
	Sessions int   `json:"sessions"`
	Opened   int64 `json:"opened"`
	Dropped  int64 `json:"dropped"`
}

// stats returns the pool's numbers.
func (p *pool) stats() poolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return poolStats{Sessions: len(p.all), Opened: p.opened, Dropped: p.dropped}
}

// close stops new calls; the sessions close when the last call ends, so that
// a config reload does not break the calls of the old config.
func (p *pool) close() {
	p.mu.Lock()
	p.closing = true
	idle := p.calls == 0
	p.mu.Unlock()
	if idle {
		p.closeAll()
	}
}

// closeAll closes every session, in the background.
func (p *pool) closeAll() {
	p.mu.Lock()
	all := p.all
	p.all = nil
	for _, s := range all {
		s.dead = true
	}
	p.mu.Unlock()
	go func() {
		for _, s := range all {
			_ = s.cs.Close()
		}
		p.stop()
		p.cfg.HTTPClient.CloseIdleConnections()
	}()
}
