package redisstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// clientLog sends the go-redis client's own messages (which it prints on
// standard error by default) to the log of the first Store, at debug
// level: the Store logs the failures that matter itself.
var clientLog sync.Once

// zapPrintf is go-redis's logger on a zap.Logger.
type zapPrintf struct{ log *zap.Logger }

// Printf logs a message of the client.
func (z zapPrintf) Printf(_ context.Context, format string, v ...any) {
	if ce := z.log.Check(zap.DebugLevel, "redis client"); ce != nil {
		ce.Write(zap.String("message", fmt.Sprintf(format, v...)))
	}
}

// useLog routes the client's messages to log, once per process.
func useLog(log *zap.Logger) {
	clientLog.Do(func() { redis.SetLogger(zapPrintf{log}) })
}
