package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stata/caddy-stata/internal/redisstore"
	"github.com/caddy-stata/caddy-stata/internal/streams"
)

func init() {
	caddy.RegisterModule(RedisStore{})
}

// redisStores are the connections to Redis of every RedisStore of the
// process, one per distinct configuration, shared by the handlers of a
// config and kept across a reload that does not change it, so that calls
// running through a reload keep their copy.
var redisStores = caddy.NewUsagePool()

// RedisStore keeps held calls' streams in Redis (or Valkey) as well as in
// memory, so that every instance sharing the Redis serves every resume: a
// client whose connection drops may come back through any of them. The
// instance that runs a call writes each of its events to a Redis stream
// without ever waiting for Redis; a resume that finds no stream in memory
// reads it from Redis and follows the call live until its response. A
// notifications/cancelled for a call running on another instance reaches it
// through Redis Pub/Sub. When Redis is down or slow, calls go on from
// memory, and caddy_mcp_keepalive_store_errors_total counts the failures.
type RedisStore struct {
	// Address is Redis's `host:port`, or a `redis://` or `rediss://` URL.
	// Required.
	Address string `json:"address,omitempty"`

	// Username is the ACL user to authenticate as. Default: none.
	Username string `json:"username,omitempty"`

	// Password authenticates to Redis; placeholders such as
	// `{env.REDIS_PASSWORD}` are replaced. Default: none.
	Password string `json:"password,omitempty"`

	// DB is the database number. Default: `0`.
	DB int `json:"db,omitempty"`

	// Prefix starts every key and channel name, so that several setups can
	// share one Redis. Default: `caddy-stata:`.
	Prefix string `json:"prefix,omitempty"`

	// Timeout bounds each Redis command. Default: `2s`.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	key   string
	store *redisstore.Store
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "mcp_keepalive.stores.redis",
		New: func() caddy.Module { return new(RedisStore) },
	}
}

// config returns the store's configuration, placeholders replaced and
// defaults filled in.
func (rs *RedisStore) config() redisstore.Config {
	repl := caddy.NewReplacer()
	cfg := redisstore.Config{
		Address:  repl.ReplaceKnown(rs.Address, ""),
		Username: repl.ReplaceKnown(rs.Username, ""),
		Password: repl.ReplaceKnown(rs.Password, ""),
		DB:       rs.DB,
		Prefix:   rs.Prefix,
		Timeout:  time.Duration(rs.Timeout),
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redisstore.DefaultPrefix
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = redisstore.DefaultTimeout
	}
	return cfg
}

// Provision connects to Redis, or shares the connection of another
// RedisStore with the same configuration.
func (rs *RedisStore) Provision(ctx caddy.Context) error {
	cfg := rs.config()
	if cfg.Address == "" {
		return errors.New("address is required")
	}
	if rs.DB < 0 {
		return fmt.Errorf("db must not be negative, not %d", rs.DB)
	}
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		if err := registerKeepAliveMetrics(reg); err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	// The counter shows from the start, at zero, on instances that use Redis.
	keepAliveMetrics.storeErrors.WithLabelValues("write")
	key, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	rs.key = string(key)
	log := ctx.Logger()
	val, _, err := redisStores.LoadOrNew(rs.key, func() (caddy.Destructor, error) {
		s, err := redisstore.New(cfg, log)
		if err != nil {
			return nil, err
		}
		s.OnError = func(op string) { keepAliveMetrics.storeErrors.WithLabelValues(op).Inc() }
		log.Info("stream store: redis", zap.String("address", cfg.Address), zap.Int("db", cfg.DB),
			zap.String("prefix", cfg.Prefix), zap.String("instance", s.Instance()))
		return redisDestructor{s}, nil
	})
	if err != nil {
		return fmt.Errorf("setting up the client: %w", err)
	}
	rs.store = val.(redisDestructor).Store
	return nil
}

// Cleanup lets go of the connection; the last user closes it.
func (rs *RedisStore) Cleanup() error {
	if rs.key != "" {
		_, _ = redisStores.Delete(rs.key)
	}
	return nil
}

// Backend shares the streams through Redis.
func (rs *RedisStore) Backend(maxRunning time.Duration) (streams.Mirror, streams.Remote) {
	return rs.store.Mirror(maxRunning), rs.store
}

// redisDestructor closes a Store when its last user is gone, without
// waiting for it: Cleanup must not block.
type redisDestructor struct{ *redisstore.Store }

// Destruct closes the store in the background.
func (d redisDestructor) Destruct() error {
	go func() { _ = d.Close() }()
	return nil
}

// Interface guards.
var (
	_ StreamStore        = (*RedisStore)(nil)
	_ caddy.Provisioner  = (*RedisStore)(nil)
	_ caddy.CleanerUpper = (*RedisStore)(nil)
)
