package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/inspect"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// topicsView is what the cluster said about its topics and groups, read
// once.
type topicsView struct {
	names   topics.Namer
	only    string                   // describe: the one topic
	surge   []string                 // Surge topic names in pipeline order, with the prefix
	meta    kadm.TopicDetails        // existing topics
	ends    kadm.ListedOffsets       // log end offsets
	sizes   kadm.DescribedAllLogDirs // nil: the brokers did not say
	sizeErr error
	configs map[string][]kadm.Config
	// Offsets are the start, stable and committed offsets the lags are
	// computed from, with the groups' states, members (describe only) and
	// the stages' stall reports; stallErr says why the stalls could not be
	// read (then none is marked).
	*inspect.Offsets
	stallErr error
	// backlog is every subscription's backlog in the dispatchers, from
	// their fresh reports, by subscription id; backlogErr says why it
	// could not be read.
	backlog    []backlog.Summary
	backlogErr error
}

// inspectTopics reads everything list needs, or with only set, what
// describe needs for that one topic; registryURL decodes the stall
// reports.
func inspectTopics(ctx context.Context, adm *kadm.Client, kafka config.Kafka, registryURL, only string) (*topicsView, error) {
	prefix := kafka.TopicPrefix
	v := &topicsView{names: topics.Namer{Prefix: prefix}, Offsets: &inspect.Offsets{}}
	for _, l := range topics.Layouts(24 * time.Hour) {
		v.surge = append(v.surge, v.names.Name(l.Name))
	}
	v.surge = append(v.surge, topics.Schemas) // the schema registry's, never prefixed

	var err error
	if v.meta, err = adm.ListTopics(ctx); err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	for name, d := range v.meta {
		if d.Err != nil {
			delete(v.meta, name)
		}
	}
	names := v.meta.Names()
	if only != "" {
		switch {
		case prefix != "" && !strings.HasPrefix(only, prefix) && v.exists(prefix+only):
			only = prefix + only
		case v.exists(only):
		default:
			return nil, fmt.Errorf("topic %s does not exist (surge topics list shows the topics there are)", only)
		}
		v.only, names = only, []string{only}
	}
	if len(names) == 0 {
		return v, nil
	}

	parts := map[string][]int32{}
	for _, n := range names {
		parts[n] = v.partitions(n)
	}
	var stageGroups []string
	for _, g := range stageReaders {
		stageGroups = append(stageGroups, prefix+g)
	}
	if v.Offsets, err = inspect.ReadOffsets(ctx, adm, parts, stageGroups, true); err != nil {
		return nil, err
	}
	if v.ends, err = adm.ListEndOffsets(ctx, names...); err == nil {
		err = v.ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}

	// Sizes are a nicety: a broker that does not answer DescribeLogDirs
	// (or refuses it) leaves them n/a rather than failing the command.
	v.sizes, v.sizeErr = adm.DescribeAllLogDirs(ctx, topicsSetOf(v.meta, names))
	if v.sizeErr == nil {
		v.sizes.Each(func(d kadm.DescribedLogDir) {
			if d.Err != nil && v.sizeErr == nil {
				v.sizeErr = d.Err
			}
		})
	}
	if v.sizeErr != nil {
		v.sizes = nil
	}

	cfgs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing topic configs: %w", err)
	}
	v.configs = map[string][]kadm.Config{}
	for _, rc := range cfgs {
		if rc.Err == nil {
			v.configs[rc.Name] = rc.Configs
		}
	}

	readers := map[string][]string{}
	for _, n := range names {
		readers[n] = v.readers(n)
	}
	v.Probe(ctx, kafkax.ClientOpts(kafka, nil), readers)
	// Like sizes, stall marks are read on a best-effort basis: without the
	// registry the lags still show, with a line saying the marks are n/a.
	v.Stalls, v.stallErr = readStalls(ctx, kafka, registryURL, v.exists(v.names.Name(topics.Stalls)))
	v.backlog, v.backlogErr = readBacklog(ctx, kafka, registryURL, v.exists(v.names.Name(topics.Backlog)), time.Now())
	if only != "" {
		if described, err := adm.DescribeGroups(ctx, v.readers(only)...); err == nil {
			for _, d := range described {
				if d.Err == nil {
					v.Members[d.Group] = len(d.Members)
				}
			}
		}
	}
	return v, nil
}

func topicsSetOf(meta kadm.TopicDetails, names []string) kadm.TopicsSet {
	s := kadm.TopicsSet{}
	for _, n := range names {
		for p := range meta[n].Partitions {
			s.Add(n, p)
		}
	}
	return s
}

func (v *topicsView) exists(topic string) bool {
	_, ok := v.meta[topic]
	return ok
}

func (v *topicsView) isSurge(topic string) bool { return slices.Contains(v.surge, topic) }

// stage is the Surge stage group that reads topic, with the prefix, or "".
func (v *topicsView) stage(topic string) string {
	if g, ok := stageReaders[strings.TrimPrefix(topic, v.names.Prefix)]; ok && strings.HasPrefix(topic, v.names.Prefix) {
		return v.names.Prefix + g
	}
	return ""
}

// readers are the groups whose lag on topic is shown: its stage's group
// first, then every group with a committed offset on it, by name.
func (v *topicsView) readers(topic string) []string {
	var out []string
	for g, offs := range v.Committed {
		if _, ok := offs[topic]; ok && g != v.stage(topic) {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	if s := v.stage(topic); s != "" {
		out = append([]string{s}, out...)
	}
	return out
}

// partitions of topic, sorted.
func (v *topicsView) partitions(topic string) []int32 {
	return inspect.PartitionsOf(kadm.TopicDetails{topic: v.meta[topic]})[topic]
}

func (v *topicsView) offset(o kadm.ListedOffsets, topic string, p int32) int64 {
	return inspect.Offset(o, topic, p)
}

// partitionSize is the leader replica's size of one partition, nil if
// unknown.
func (v *topicsView) partitionSize(topic string, p int32) *int64 {
	if v.sizes == nil {
		return nil
	}
	leader := v.meta[topic].Partitions[p].Leader
	if d, ok := v.sizes[leader].LookupPartition(topic, p); ok {
		return &d.Size
	}
	return nil
}

// topicSize is every replica's size of topic summed, nil if unknown.
func (v *topicsView) topicSize(topic string) *int64 {
	if v.sizes == nil {
		return nil
	}
	var total int64
	found := false
	v.sizes.Each(func(d kadm.DescribedLogDir) {
		if t, ok := d.Topics[topic]; ok {
			for _, p := range t {
				total += p.Size
				found = true
			}
		}
	})
	if !found {
		return nil
	}
	return &total
}

func (v *topicsView) config(topic, key string) string {
	for _, c := range v.configs[topic] {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return ""
}
