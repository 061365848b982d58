package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stata/caddy-stata/internal/streams"
)

// AddTask adds the task id to the sorted set of owner's tasks, scored by
// when the task expires. The set lives as long as its last task: its expiry
// is set when it has none and moved later when a task outlives it.
func (s *Store) AddTask(ctx context.Context, owner streams.Owner, id string, expires time.Time) error {
	c, cancel := s.ctx(ctx)
	defer cancel()
	key := s.key("tasks", owner.Digest())
	ttl := time.Until(expires) + time.Second
	pipe := s.client.TxPipeline()
	pipe.ZAdd(c, key, redis.Z{Score: float64(expires.UnixMilli()), Member: id})
	pipe.ExpireNX(c, key, ttl)
	pipe.ExpireGT(c, key, ttl)
	if _, err := pipe.Exec(c); err != nil {
		s.failed("task", err)
		return fmt.Errorf("recording task %s: %w", id, err)
	}
	s.succeeded()
	return nil
}

// Tasks returns the ids of owner's tasks that have not expired at now; the
// expired ones are removed from the set on the way.
func (s *Store) Tasks(ctx context.Context, owner streams.Owner, now time.Time) ([]string, error) {
	c, cancel := s.ctx(ctx)
	defer cancel()
	key := s.key("tasks", owner.Digest())
	pipe := s.client.TxPipeline()
	pipe.ZRemRangeByScore(c, key, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
	ids := pipe.ZRange(c, key, 0, -1)
	if _, err := pipe.Exec(c); err != nil {
		s.failed("tasks", err)
		return nil, fmt.Errorf("listing tasks: %w", err)
	}
	s.succeeded()
	return ids.Val(), nil
}
