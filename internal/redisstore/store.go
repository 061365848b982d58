package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// Config is how to reach Redis.
type Config struct {
	// Address is host:port, or a redis:// or rediss:// URL (which may carry
	// the user, password and database).
	Address string
	// Username and Password authenticate, when set.
	Username string
	Password string
	// DB is the database number.
	DB int
	// Prefix starts every key and channel name.
	Prefix string
	// Timeout bounds each command (and each pipeline of writes).
	Timeout time.Duration
}

// Defaults of Config.
const (
	DefaultPrefix  = "caddy-stata:"
	DefaultTimeout = 2 * time.Second
)

// Tuning of the writers and the heartbeat.
const (
	// shards is the number of writer goroutines.
	shards = 4
	// queueLen is how many writes wait per writer at most; a write that
	// finds its queue full is dropped and counted as an error.
	queueLen = 1 << 16
	// batchLen is the most writes one pipeline carries.
	batchLen = 512
	// heartbeat is how often an instance says it is alive; its key expires
	// after heartbeatTTL without.
	heartbeat    = 2 * time.Second
	heartbeatTTL = 10 * time.Second
	// MaxEvents is the MAXLEN of a stream: the most events Redis keeps of
	// one call; older ones are trimmed, and a reader behind them learns of
	// the hole.
	MaxEvents = 100000
	// MaxEventSize is the largest event copied to Redis, in bytes. Its data
	// is read into memory whole to be sent, and a Redis value should stay
	// far from Redis's own limit of 512 MB.
	MaxEventSize = 16 << 20
)

// Store is a connection to Redis that mirrors streams and reads them back.
// Its methods are safe for concurrent use. Close stops it.
type Store struct {
	cfg      Config
	client   *redis.Client
	log      *zap.Logger
	instance string

	// OnError, when set before use, is called on each failed Redis
	// operation, with the operation's name.
	OnError func(op string)

	queues  [shards]*queue
	calls   sync.Map // call digest → *mirrored, of calls running here
	failing atomic.Bool
	stop    context.CancelFunc
	done    sync.WaitGroup
	closing chan struct{}
	pubsub  *redis.PubSub
}

// New returns a Store for cfg; it starts its writers, its heartbeat and its
// subscription to cancels at once, and connects to Redis lazily, so that a
// Redis that is down at start does not stop the process.
func New(cfg Config, log *zap.Logger) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if log == nil {
		log = zap.NewNop()
	}
	opt, err := options(cfg)
	if err != nil {
		return nil, err
	}
	useLog(log)
	var id [8]byte
	_, _ = rand.Read(id[:])
	ctx, stop := context.WithCancel(context.Background())
	s := &Store{cfg: cfg, client: redis.NewClient(opt), log: log, instance: hex.EncodeToString(id[:]),
		stop: stop, closing: make(chan struct{})}
	for i := range s.queues {
		s.queues[i] = &queue{ready: make(chan struct{}, 1)}
		s.done.Add(1)
		go s.write(s.queues[i])
	}
	s.pubsub = s.client.Subscribe(ctx, s.key("cancel"))
	s.done.Add(2)
	go s.beat(ctx)
	go s.listen()
	return s, nil
}

// options turns cfg into go-redis options.
func options(cfg Config) (*redis.Options, error) {
	var opt *redis.Options
	if strings.Contains(cfg.Address, "://") {
		var err error
		if opt, err = redis.ParseURL(cfg.Address); err != nil {
			return nil, fmt.Errorf("parsing redis address: %w", err)
		}
	} else {
		opt = &redis.Options{Addr: cfg.Address}
	}
	if cfg.Username != "" {
		opt.Username = cfg.Username
	}
	if cfg.Password != "" {
		opt.Password = cfg.Password
	}
	if cfg.DB != 0 {
		opt.DB = cfg.DB
	}
	opt.DialTimeout = cfg.Timeout
	opt.ReadTimeout = cfg.Timeout
	opt.WriteTimeout = cfg.Timeout
	opt.PoolTimeout = cfg.Timeout
	// A command is tried once: a writer that falls behind on retries would
	// only delay the events after it.
	opt.MaxRetries = -1
	// Resumes that follow a call hold a connection in XREAD BLOCK.
	opt.PoolSize = 64
	opt.DisableIdentity = true
	return opt, nil
}

// Close stops the writers (after the writes already queued), the heartbeat
// and the subscription, and closes the connection.
func (s *Store) Close() error {
	close(s.closing)
	s.stop()
	_ = s.pubsub.Close()
	s.done.Wait()
	return s.client.Close()
}

// Instance returns the id this process goes by in Redis.
func (s *Store) Instance() string { return s.instance }

// key returns the name of a key under the prefix.
func (s *Store) key(parts ...string) string {
	return s.cfg.Prefix + strings.Join(parts, ":")
}

// failed counts a failed operation and logs the first of a run of them.
func (s *Store) failed(op string, err error) {
	if s.OnError != nil {
		s.OnError(op)
	}
	if !s.failing.Swap(true) {
		s.log.Warn("stream store failed: events are kept in memory only until it answers again",
			zap.String("op", op), zap.Error(err))
	}
}

// succeeded notes that Redis answered, and logs that once after failures.
func (s *Store) succeeded() {
	if s.failing.Swap(false) {
		s.log.Info("stream store answers again")
	}
}

// ctx returns a context bounded by the command timeout.
func (s *Store) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.cfg.Timeout)
}

// beat keeps the instance's heartbeat key alive until Close.
func (s *Store) beat(ctx context.Context) {
	defer s.done.Done()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		c, cancel := s.ctx(ctx)
		err := s.client.Set(c, s.key("i", s.instance), "1", heartbeatTTL).Err()
		cancel()
		if err != nil && ctx.Err() == nil {
			s.failed("heartbeat", err)
		}
		select {
		case <-ctx.Done():
			c, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
			// Going away on purpose: readers of calls that did not finish
			// need not wait for the key to expire.
			_ = s.client.Del(c, s.key("i", s.instance)).Err()
			cancel()
			return
		case <-t.C:
		}
	}
}

// listen cancels the calls running here that cancels published by other
// instances name.
func (s *Store) listen() {
	defer s.done.Done()
	for msg := range s.pubsub.Channel() {
		if m, ok := s.calls.Load(msg.Payload); ok {
			if m.(*mirrored).stream.Cancel() {
				s.log.Info("held call cancelled by the client through another instance",
					zap.String("stream", m.(*mirrored).stream.ID))
			}
		}
	}
}

// Cancel publishes a cancel of the call of owner whose request key is
// request, for the instance that runs it.
//
// It returns once the instance running the call has taken the cancel (the
// stream's state in Redis is no longer running), or after cancelWait: the
// caller passes the client's notifications/cancelled on upstream next, and
// an upstream that answers a cancelled request must find the call cancelled
// already, as it does when the cancel reaches the running instance itself.
func (s *Store) Cancel(ctx context.Context, owner streams.Owner, request string) error {
	return s.cancelAndWait(ctx, owner.CallDigest(request), "")
}

// cancelAndWait publishes a cancel of the call with the given digest and
// waits, at most cancelWait, until the state of its stream in Redis is no
// longer running. id is the stream's id, or "" to look it up by the digest;
// a call Redis does not know is not waited for.
func (s *Store) cancelAndWait(ctx context.Context, call, id string) error {
	if err := s.publishCancel(ctx, call); err != nil {
		return err
	}
	c, cancel := context.WithTimeout(ctx, cancelWait)
	defer cancel()
	if id == "" {
		var err error
		if id, err = s.client.Get(c, s.key("call", call)).Result(); err != nil {
			// No such call is running anywhere (redis.Nil), or Redis
			// failed: there is nothing to wait for.
			return nil
		}
	}
	tick := time.NewTicker(cancelPoll)
	defer tick.Stop()
	for {
		st, err := s.client.HGet(c, s.key("m", id), "st").Result()
		if err != nil || st != "running" {
			return nil
		}
		select {
		case <-c.Done():
			return nil
		case <-tick.C:
		}
	}
}

// cancelWait bounds how long Cancel waits for the running instance to take
// a cancel, and cancelPoll is how often it looks.
const (
	cancelWait = time.Second
	cancelPoll = 10 * time.Millisecond
)

// publishCancel publishes a cancel of the call with the given digest.
func (s *Store) publishCancel(ctx context.Context, call string) error {
	c, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.client.Publish(c, s.key("cancel"), call).Err(); err != nil {
		s.failed("publish", err)
		return fmt.Errorf("publishing a cancel: %w", err)
	}
	return nil
}

// shard returns the writer queue of the stream with the given id.
func (s *Store) shard(id string) *queue {
	h := fnv.New32a()
	h.Write([]byte(id))
	return s.queues[h.Sum32()%shards]
}
