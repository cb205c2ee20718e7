package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/awsdest"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// Dead-letter classes of the dispatcher (surge.dlq.error-class).
const (
	ClassRejected            = "rejected"             // a 4xx other than 408/410/425/429, a 3xx, or an AWS error that can never succeed
	ClassRefused             = "refused"              // the target resolved to an address the SSRF rules refuse
	ClassExhausted           = stream.ClassExhausted  // the retry schedule ran out
	ClassSubscriptionDeleted = "subscription_deleted" // the subscription no longer exists
	ClassUndecodable         = stream.ClassUndecodable
	ClassMisrouted           = stream.ClassMisrouted // a main-topic record not on its key's murmur2 partition
)

// deadLetter writes the delivery, with its attempt state and the
// dead-letter headers, to the same partition of commerce.deliveries.dlq
// and waits until it is durable.
func (s *Service) deadLetter(l *lane, it *item, class string, cause error, now time.Time) {
	d := *it.d
	first, last := now, now
	if d.FirstFailureAt != nil {
		first = *d.FirstFailureAt
	}
	if d.LastFailureAt != nil {
		last = *d.LastFailureAt
	}
	v, err := s.dlqCodec.Encode(d)
	if err != nil {
		s.fail(fmt.Errorf("encoding a dead letter: %w", err))
		return
	}
	h := stream.DeadLetterHeaders(it.rec, StageName, class, cause, max(int(d.Attempts), 1), first, last)
	if d.LastStatus != 0 {
		h = append(h, kgo.RecordHeader{Key: topics.HeaderDLQHTTPStatus, Value: []byte(strconv.Itoa(int(d.LastStatus)))})
	}
	if code := awsdest.ErrorCode(cause); code != "" {
		h = append(h, kgo.RecordHeader{Key: topics.HeaderDLQAWSErrorCode, Value: []byte(code)})
	}
	rec := kafkax.WithPartition(&kgo.Record{Topic: s.dlqTopic, Key: it.rec.Key, Value: v, Headers: h}, l.p)
	if err := l.client.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		s.fail(fmt.Errorf("writing to %s: %w", s.dlqTopic, err))
		return
	}
	s.m.deliveries.WithLabelValues(d.SubscriptionID, "dead_lettered").Inc()
	if class == ClassExhausted {
		s.exhaustedEvent(d)
	}
	s.log.Warn("delivery dead-lettered", zap.String(observe.KeyDeliveryID, d.ID), zap.String(observe.KeySubscriptionID, d.SubscriptionID),
		zap.String(observe.KeyErrorClass, class), zap.Int32(observe.KeyAttempts, d.Attempts), zap.Error(cause))
}

// checkRoute is nil when rec's key is on its murmur2 partition, a
// permanent ClassMisrouted error when it is not, and a transient error
// when the main topic's partition count cannot be read.
func (s *Service) checkRoute(l *lane, rec *kgo.Record) error {
	for range 2 { // once more after a record of a partition beyond the count
		if _, err := s.routes.Partitions(l.ctx, kadm.NewClient(l.client)); err != nil {
			return err
		}
		if err := s.routes.Check(rec); !errors.Is(err, stream.ErrPartitionsChanged) {
			return err
		}
	}
	return s.routes.Check(rec)
}

// deadLetterRaw dead-letters an input record as it is, byte for byte: one
// that does not decode, or one on the wrong partition.
func (s *Service) deadLetterRaw(l *lane, rec *kgo.Record, src source, class string, err error) {
	if !s.writeRawDeadLetter(l, rec, class, err) {
		return
	}
	s.stageM.DeadLettered.WithLabelValues(StageName, class).Inc()
	s.log.Warn("dead-lettering record", zap.String(observe.KeyTopic, rec.Topic), zap.Int32(observe.KeyPartition, rec.Partition), zap.Int64(observe.KeyOffset, rec.Offset),
		zap.String(observe.KeyErrorClass, class), zap.Error(err))
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.main
	if src == fromRetry {
		t = l.retry
	}
	t.read(rec.Offset)
	t.finish(rec.Offset)
}

// writeRawDeadLetter writes rec as it is, with the dead-letter headers,
// and waits until it is durable; false if Kafka refused it (the session
// then ends).
func (s *Service) writeRawDeadLetter(l *lane, rec *kgo.Record, class string, err error) bool {
	now := s.now()
	h := stream.DeadLetterHeaders(rec, StageName, class, err, 1, now, now)
	out := kafkax.WithPartition(&kgo.Record{Topic: s.dlqTopic, Key: rec.Key, Value: rec.Value, Headers: h}, l.p)
	if err := l.client.ProduceSync(context.Background(), out).FirstErr(); err != nil {
		s.fail(fmt.Errorf("writing to %s: %w", s.dlqTopic, err))
		return false
	}
	return true
}
