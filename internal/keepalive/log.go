package keepalive

import (
	"time"

	"go.uber.org/zap"
)

// LogFinished logs the end of kept-alive call c, the one line per call that
// every transport writes: its tool, id, duration, outcome (an Outcome
// constant) and cause (why it failed, or ""), then the transport's extra
// fields.
func LogFinished(log *zap.Logger, c *Call, outcome, cause string, extra ...zap.Field) {
	fields := make([]zap.Field, 0, 5+len(extra))
	fields = append(fields,
		zap.String("tool", c.Tool),
		zap.String("id", string(c.ID)),
		zap.Duration("duration", time.Since(c.Start)),
		zap.String("outcome", outcome),
		zap.String("cause", cause),
	)
	log.Info("held call finished", append(fields, extra...)...)
}
