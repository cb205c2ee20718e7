package stream

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// RunSessions runs session until ctx ends, starting it again after a
// failure with a back-off that doubles from first up to 10s: the restart
// loop of every consumer of Surge's topics (Stage.Run and the
// dispatcher's). A session returns nil when ctx ended and an error when its
// client cannot go on; what it did not commit is read again by the next.
// msg is logged with each failure.
func RunSessions(ctx context.Context, log *zap.Logger, msg string, first time.Duration, session func(context.Context) error) {
	backoff := first
	for ctx.Err() == nil {
		err := session(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		log.Error(msg, zap.Error(err), zap.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
