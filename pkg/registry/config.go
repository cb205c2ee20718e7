package registry

import (
	"errors"
	"fmt"
	"strings"

	"github.com/surgehq/surge/pkg/topics"
)

// Config configures a Registry. The zero value is usable: Validate fills the
// defaults.
type Config struct {
	// Topic is the single-partition compacted topic holding every schema
	// and config change. Default "_schemas", the topic Confluent's registry
	// uses, so the two can be swapped on one cluster (not run side by side).
	Topic string
	// ReplicationFactor of Topic when New creates it. Default 1; use 3 in
	// production.
	ReplicationFactor int16
	// DefaultCompatibility is the global compatibility level until someone
	// sets one with PUT /config. Default BACKWARD.
	DefaultCompatibility string
}

// Compatibility levels, as Confluent names them.
const (
	CompatNone               = "NONE"
	CompatBackward           = "BACKWARD"
	CompatBackwardTransitive = "BACKWARD_TRANSITIVE"
	CompatForward            = "FORWARD"
	CompatForwardTransitive  = "FORWARD_TRANSITIVE"
	CompatFull               = "FULL"
	CompatFullTransitive     = "FULL_TRANSITIVE"
)

var compatLevels = []string{
	CompatNone, CompatBackward, CompatBackwardTransitive,
	CompatForward, CompatForwardTransitive, CompatFull, CompatFullTransitive,
}

// parseCompat returns the canonical spelling of a compatibility level;
// Confluent accepts any letter case.
func parseCompat(s string) (string, bool) {
	up := strings.ToUpper(strings.TrimSpace(s))
	for _, l := range compatLevels {
		if l == up {
			return l, true
		}
	}
	return "", false
}

// Validate fills the defaults and checks every setting; errors name the
// setting. It does no I/O.
func (c *Config) Validate() error {
	if c.Topic == "" {
		c.Topic = topics.Schemas
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
	if c.DefaultCompatibility == "" {
		c.DefaultCompatibility = CompatBackward
	}
	var errs []error
	if strings.ContainsAny(c.Topic, " /\\") || len(c.Topic) > 249 {
		errs = append(errs, fmt.Errorf("registry Topic %q is not a valid Kafka topic name", c.Topic))
	}
	if c.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("registry ReplicationFactor is %d, must be at least 1", c.ReplicationFactor))
	}
	if l, ok := parseCompat(c.DefaultCompatibility); ok {
		c.DefaultCompatibility = l
	} else {
		errs = append(errs, fmt.Errorf("registry DefaultCompatibility %q is not one of %s",
			c.DefaultCompatibility, strings.Join(compatLevels, ", ")))
	}
	return errors.Join(errs...)
}
