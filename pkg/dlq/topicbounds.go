package dlq

import "context"

// topicBounds resolves a dead-letter topic name as Topic does and reads
// the bounds of its partitions: what Stats, Record and FindEvent start
// from.
func (s *Service) topicBounds(ctx context.Context, topic string) (full string, kind Kind, spans map[int32]span, err error) {
	if full, kind, err = s.Topic(topic); err != nil {
		return "", 0, nil, err
	}
	if spans, err = s.bounds(ctx, full); err != nil {
		return "", 0, nil, err
	}
	return full, kind, spans, nil
}
