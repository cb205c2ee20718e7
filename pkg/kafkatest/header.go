package kafkatest

import "github.com/twmb/franz-go/pkg/kgo"

// Header is the value of r's first header named key, "" when r has none.
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
