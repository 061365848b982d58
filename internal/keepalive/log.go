package keepalive

import (
	"strings"
	"time"

	"go.uber.org/zap"
)

// LogFinished logs the end of a kept-alive call, the one line per call that
// every transport writes: its tools and request ids (several for a held
// batch, joined by commas), duration, outcome (an Outcome constant) and
// cause (why it failed, or ""), then the transport's extra fields. calls are
// the call's requests, the first of which began it.
func LogFinished(log *zap.Logger, calls []*Call, outcome, cause string, extra ...zap.Field) {
	var tools, ids []string
	for _, c := range calls {
		if c.Tool != "" {
			tools = append(tools, c.Tool)
		}
		ids = append(ids, string(c.ID))
	}
	fields := make([]zap.Field, 0, 5+len(extra))
	fields = append(fields,
		zap.String("tool", strings.Join(tools, ",")),
		zap.String("id", strings.Join(ids, ",")),
		zap.Duration("duration", time.Since(calls[0].Start)),
		zap.String("outcome", outcome),
		zap.String("cause", cause),
	)
	log.Info("held call finished", append(fields, extra...)...)
}
