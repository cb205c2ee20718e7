package inspect

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/topics"
)

// Config is an Inspector's settings.
type Config struct {
	// Names gives the topics' and groups' prefix.
	Names topics.Namer
	// ClientOpts are the Kafka client's options (kafkax.ClientOpts).
	ClientOpts []kgo.Opt
	// Registry decodes the records; required.
	Registry *avroserde.Registry
}

// Inspector reads the pipeline's state from Kafka for the admin API. It
// is safe for concurrent use; every method blocks on Kafka, bounded by
// its context.
type Inspector struct {
	cfg      Config
	client   *kgo.Client
	adm      *kadm.Client
	attempts *avroserde.Codec[event.DeliveryAttempt]
	retries  *avroserde.Codec[event.Delivery]
}

// New checks cfg and returns an Inspector; it does no I/O.
func New(cfg Config) (*Inspector, error) {
	if cfg.Registry == nil {
		return nil, errors.New("inspect: Config.Registry is nil")
	}
	cl, err := kgo.NewClient(cfg.ClientOpts...)
	if err != nil {
		return nil, fmt.Errorf("inspect: creating Kafka client: %w", err)
	}
	return &Inspector{
		cfg:      cfg,
		client:   cl,
		adm:      kadm.NewClient(cl),
		attempts: avroserde.NewDeliveryAttemptCodec(cfg.Registry, cfg.Names.Name(topics.DeliveryAttempts)),
		retries:  avroserde.NewDeliveryCodec(cfg.Registry, cfg.Names.Name(topics.DeliveriesRetry)),
	}, nil
}

// Close releases the Kafka client.
func (in *Inspector) Close() { in.client.Close() }

// StageLag is one stage's consumer group on one topic it reads.
type StageLag struct {
	Stage string `json:"stage"`
	Topic string `json:"topic"`
	GroupLag
}

// StageLagReport is every stage's lag, in pipeline order.
type StageLagReport struct {
	Stages []StageLag `json:"stages"`
	// StallsError says why no lag could be marked stalled (commerce.stalls
	// could not be read); the lags are still right.
	StallsError string `json:"stalls_error,omitempty"`
}

// StageLag reads every stage group's lag on each topic it reads, per
// partition, with the stall reports; a topic not created yet is left out.
func (in *Inspector) StageLag(ctx context.Context) (*StageLagReport, error) {
	meta, err := in.adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	parts := PartitionsOf(meta)
	type read struct{ stage, topic, group string }
	var reads []read
	readers := map[string][]string{}  // topic → the stage groups reading it
	readParts := map[string][]int32{} // the partitions of the topics read
	for _, st := range topics.Pipeline() {
		for _, base := range st.Reads {
			t, g := in.cfg.Names.Name(base), in.cfg.Names.Name(st.Group)
			if _, ok := parts[t]; !ok {
				continue
			}
			reads = append(reads, read{st.Name, t, g})
			readers[t] = append(readers[t], g)
			readParts[t] = parts[t]
		}
	}
	groups := []string{}
	for _, r := range reads {
		groups = append(groups, r.group)
	}
	off, err := ReadOffsets(ctx, in.adm, readParts, groups, false)
	if err != nil {
		return nil, err
	}
	off.Probe(ctx, in.cfg.ClientOpts, readers)
	rep := &StageLagReport{Stages: []StageLag{}}
	if stalls := in.cfg.Names.Name(topics.Stalls); parts[stalls] != nil {
		if off.Stalls, err = ReadStalls(ctx, in.cfg.ClientOpts, in.cfg.Registry, stalls); err != nil {
			rep.StallsError = err.Error()
		}
	}
	for _, r := range reads {
		rep.Stages = append(rep.Stages, StageLag{Stage: r.stage, Topic: r.topic, GroupLag: off.Lag(r.topic, r.group, true)})
	}
	return rep, nil
}
