package inspect

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/topics"
)

// How the topics are read for `surge topics` and GET /v1/topics: one
// pass over the cluster (topics, offsets, every group's commits, sizes,
// configs, the stall reports) into a Topics, which then answers the list
// (Summaries), one topic's description (Describe) and the API's report
// (Report) without asking Kafka again.

// TopicsConfig says what ReadTopics reads and with what.
type TopicsConfig struct {
	// Names gives the topics' and groups' prefix.
	Names topics.Namer
	// ClientOpts are the Kafka client's options (kafkax.ClientOpts), for
	// the reads of records (Probe, the stall reports).
	ClientOpts []kgo.Opt
	// Registry decodes commerce.stalls; nil leaves the stall marks out
	// (StallErr says so).
	Registry *avroserde.Registry
	// Only, when set, reads one topic (the full name, or a Surge topic's
	// name without the prefix) and its groups' members too.
	Only string
}

// Topics is what the cluster said about its topics and groups, read once.
type Topics struct {
	Names topics.Namer
	// Only is the one topic read (TopicsConfig.Only, with the prefix).
	Only string
	// Surge are Surge's topic names in pipeline order, with the prefix,
	// then the schema registry's.
	Surge []string
	// Meta are the existing topics.
	Meta kadm.TopicDetails
	// Ends are the log end offsets.
	Ends kadm.ListedOffsets
	// Sizes are the brokers' log dirs, nil when they did not say; SizeErr
	// says why.
	Sizes   kadm.DescribedAllLogDirs
	SizeErr error
	Configs map[string][]kadm.Config
	// Offsets are the start, stable and committed offsets the lags are
	// computed from, with the groups' states, members (Only) and the
	// stages' stall reports; StallErr says why the stalls could not be
	// read (then none is marked).
	*Offsets
	StallErr error
}

// ReadTopics reads everything the list needs, or with cfg.Only set, what
// one topic's description needs. adm is the cluster's admin client.
func ReadTopics(ctx context.Context, adm *kadm.Client, cfg TopicsConfig) (*Topics, error) {
	prefix := cfg.Names.Prefix
	v := &Topics{Names: cfg.Names, Offsets: &Offsets{}}
	for _, l := range topics.Layouts(24 * time.Hour) {
		v.Surge = append(v.Surge, v.Names.Name(l.Name))
	}
	v.Surge = append(v.Surge, topics.Schemas) // the schema registry's, never prefixed

	var err error
	if v.Meta, err = adm.ListTopics(ctx); err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	for name, d := range v.Meta {
		if d.Err != nil {
			delete(v.Meta, name)
		}
	}
	names := v.Meta.Names()
	if only := cfg.Only; only != "" {
		switch {
		case prefix != "" && !strings.HasPrefix(only, prefix) && v.Exists(prefix+only):
			only = prefix + only
		case v.Exists(only):
		default:
			return nil, fmt.Errorf("topic %s does not exist (surge topics list shows the topics there are)", only)
		}
		v.Only, names = only, []string{only}
	}
	if len(names) == 0 {
		return v, nil
	}

	parts := map[string][]int32{}
	for _, n := range names {
		parts[n] = v.PartitionsOf(n)
	}
	var stageGroups []string
	for _, g := range stageReaders {
		stageGroups = append(stageGroups, prefix+g)
	}
	if v.Offsets, err = ReadOffsets(ctx, adm, parts, stageGroups, true); err != nil {
		return nil, err
	}
	if v.Ends, err = adm.ListEndOffsets(ctx, names...); err == nil {
		err = v.Ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}

	// Sizes are a nicety: a broker that does not answer DescribeLogDirs
	// (or refuses it) leaves them n/a rather than failing the read.
	v.Sizes, v.SizeErr = adm.DescribeAllLogDirs(ctx, topicsSetOf(v.Meta, names))
	if v.SizeErr == nil {
		v.Sizes.Each(func(d kadm.DescribedLogDir) {
			if d.Err != nil && v.SizeErr == nil {
				v.SizeErr = d.Err
			}
		})
	}
	if v.SizeErr != nil {
		v.Sizes = nil
	}

	cfgs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing topic configs: %w", err)
	}
	v.Configs = map[string][]kadm.Config{}
	for _, rc := range cfgs {
		if rc.Err == nil {
			v.Configs[rc.Name] = rc.Configs
		}
	}

	readers := map[string][]string{}
	for _, n := range names {
		readers[n] = v.Readers(n)
	}
	v.Probe(ctx, cfg.ClientOpts, readers)
	// Like sizes, stall marks are read on a best-effort basis: without the
	// registry the lags still show, with a line saying the marks are n/a.
	if stalls := v.Names.Name(topics.Stalls); v.Exists(stalls) {
		if cfg.Registry == nil {
			v.StallErr = fmt.Errorf("no schema registry to decode %s", stalls)
		} else {
			v.Stalls, v.StallErr = ReadStalls(ctx, cfg.ClientOpts, cfg.Registry, stalls)
		}
	}
	if v.Only != "" {
		if described, err := adm.DescribeGroups(ctx, v.Readers(v.Only)...); err == nil {
			for _, d := range described {
				if d.Err == nil {
					v.Members[d.Group] = len(d.Members)
				}
			}
		}
	}
	return v, nil
}

// stageReaders names the stage consumer group that reads each Surge topic,
// from the pipeline table.
var stageReaders = func() map[string]string {
	m := map[string]string{}
	for _, st := range topics.Pipeline() {
		for _, t := range st.Reads {
			m[t] = st.Group
		}
	}
	return m
}()

func topicsSetOf(meta kadm.TopicDetails, names []string) kadm.TopicsSet {
	s := kadm.TopicsSet{}
	for _, n := range names {
		for p := range meta[n].Partitions {
			s.Add(n, p)
		}
	}
	return s
}

// Exists reports whether topic exists.
func (v *Topics) Exists(topic string) bool {
	_, ok := v.Meta[topic]
	return ok
}

// IsSurge reports whether topic is one of Surge's (with the prefix).
func (v *Topics) IsSurge(topic string) bool { return slices.Contains(v.Surge, topic) }

// stage is the Surge stage group that reads topic, with the prefix, or "".
func (v *Topics) stage(topic string) string {
	if g, ok := stageReaders[strings.TrimPrefix(topic, v.Names.Prefix)]; ok && strings.HasPrefix(topic, v.Names.Prefix) {
		return v.Names.Prefix + g
	}
	return ""
}

// Readers are the groups whose lag on topic is shown: its stage's group
// first, then every group with a committed offset on it, by name.
func (v *Topics) Readers(topic string) []string {
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

// GroupLag is group's position on topic, counted as Offsets.Lag counts
// it for the stage lag too.
func (v *Topics) GroupLag(topic, group string) GroupLag {
	return v.Lag(topic, group, group == v.stage(topic))
}

// PartitionsOf are the partitions of topic, sorted.
func (v *Topics) PartitionsOf(topic string) []int32 {
	return PartitionsOf(kadm.TopicDetails{topic: v.Meta[topic]})[topic]
}

// partitionSize is the leader replica's size of one partition, nil if
// unknown.
func (v *Topics) partitionSize(topic string, p int32) *int64 {
	if v.Sizes == nil {
		return nil
	}
	leader := v.Meta[topic].Partitions[p].Leader
	if d, ok := v.Sizes[leader].LookupPartition(topic, p); ok {
		return &d.Size
	}
	return nil
}

// topicSize is every replica's size of topic summed, nil if unknown.
func (v *Topics) topicSize(topic string) *int64 {
	if v.Sizes == nil {
		return nil
	}
	var total int64
	found := false
	v.Sizes.Each(func(d kadm.DescribedLogDir) {
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

func (v *Topics) config(topic, key string) string {
	for _, c := range v.Configs[topic] {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return ""
}

// TopicSummary is one topic of the list.
type TopicSummary struct {
	Name              string     `json:"name"`
	Surge             bool       `json:"surge"`  // named by Surge (with the prefix)
	Exists            bool       `json:"exists"` // false: a Surge topic not created yet
	Partitions        int        `json:"partitions"`
	ReplicationFactor int        `json:"replication_factor"`
	CleanupPolicy     string     `json:"cleanup_policy,omitempty"`
	SizeBytes         *int64     `json:"size_bytes"` // null: the brokers did not say
	EndOffsets        int64      `json:"end_offsets"`
	Groups            []GroupLag `json:"groups"`
}

// Summaries are Surge's topics in pipeline order, then the others by
// name; the groups' lags without their partitions.
func (v *Topics) Summaries() []TopicSummary {
	var out []TopicSummary
	add := func(name string) {
		s := TopicSummary{Name: name, Surge: v.IsSurge(name), Exists: v.Exists(name), Groups: []GroupLag{}}
		if !s.Exists {
			if name != topics.Schemas { // an external registry may keep it elsewhere
				out = append(out, s)
			}
			return
		}
		ps := v.PartitionsOf(name)
		s.Partitions = len(ps)
		for _, p := range ps {
			s.ReplicationFactor = max(s.ReplicationFactor, len(v.Meta[name].Partitions[p].Replicas))
			s.EndOffsets += Offset(v.Ends, name, p)
		}
		s.CleanupPolicy = v.config(name, "cleanup.policy")
		s.SizeBytes = v.topicSize(name)
		for _, g := range v.Readers(name) {
			gl := v.GroupLag(name, g)
			gl.Partitions = nil
			s.Groups = append(s.Groups, gl)
		}
		out = append(out, s)
	}
	for _, t := range v.Surge {
		add(t)
	}
	for _, t := range v.Meta.Names() {
		if !v.IsSurge(t) {
			add(t)
		}
	}
	return out
}

// TopicDescription is one topic partition by partition.
type TopicDescription struct {
	Name              string            `json:"name"`
	Surge             bool              `json:"surge"`
	ReplicationFactor int               `json:"replication_factor"`
	SizeBytes         *int64            `json:"size_bytes"`
	Partitions        []PartitionDesc   `json:"partitions"`
	Groups            []GroupLag        `json:"groups"`
	Configs           map[string]string `json:"configs"` // set on the topic, not defaults
	SizeError         string            `json:"size_error,omitempty"`
	StallsError       string            `json:"stalls_error,omitempty"` // why no lag could be marked stalled
}

// PartitionDesc is one partition of a topic.
type PartitionDesc struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	Start     int64   `json:"start"`
	End       int64   `json:"end"`
	StableEnd int64   `json:"stable_end"` // read_committed's end; below End while a transaction is open
	SizeBytes *int64  `json:"size_bytes"`
}

// Describe is topic partition by partition, with every group's lag per
// partition and the configs set on the topic.
func (v *Topics) Describe(topic string) TopicDescription {
	d := TopicDescription{Name: topic, Surge: v.IsSurge(topic), SizeBytes: v.topicSize(topic), Configs: map[string]string{}, Groups: []GroupLag{}}
	if v.SizeErr != nil {
		d.SizeError = v.SizeErr.Error()
	}
	if v.StallErr != nil {
		d.StallsError = v.StallErr.Error()
	}
	d.Partitions = v.partitionDescs(topic)
	for _, p := range d.Partitions {
		d.ReplicationFactor = max(d.ReplicationFactor, len(p.Replicas))
	}
	for _, g := range v.Readers(topic) {
		d.Groups = append(d.Groups, v.GroupLag(topic, g))
	}
	for _, c := range v.Configs[topic] {
		switch c.Source {
		case kmsg.ConfigSourceDefaultConfig, kmsg.ConfigSourceStaticBrokerConfig,
			kmsg.ConfigSourceDynamicBrokerConfig, kmsg.ConfigSourceDynamicDefaultBrokerConfig:
			continue // the broker's, not this topic's
		}
		if c.Sensitive {
			d.Configs[c.Key] = "(sensitive)"
		} else {
			d.Configs[c.Key] = c.MaybeValue()
		}
	}
	return d
}

func (v *Topics) partitionDescs(topic string) []PartitionDesc {
	var out []PartitionDesc
	for _, p := range v.PartitionsOf(topic) {
		pd := v.Meta[topic].Partitions[p]
		out = append(out, PartitionDesc{
			Partition: p, Leader: pd.Leader, Replicas: int32sOrEmpty(pd.Replicas), ISR: int32sOrEmpty(pd.ISR),
			Start: Offset(v.Starts, topic, p), End: Offset(v.Ends, topic, p), StableEnd: Offset(v.Stable, topic, p),
			SizeBytes: v.partitionSize(topic, p),
		})
	}
	return out
}

func int32sOrEmpty(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// TopicReport is GET /v1/topics: every topic as the list shows it, with
// its partitions and every group's lag per partition.
type TopicReport struct {
	Topics []TopicDetail `json:"topics"`
	// SizeError says why no size is known (the brokers did not describe
	// their log dirs); StallsError why no lag could be marked stalled.
	SizeError   string `json:"size_error,omitempty"`
	StallsError string `json:"stalls_error,omitempty"`
}

// TopicDetail is one topic of a TopicReport: the list's line, its
// partitions (none when it does not exist) and its groups' lags with
// their partitions.
type TopicDetail struct {
	TopicSummary
	PartitionList []PartitionDesc `json:"partition_list"`
}

// Report is every topic of Summaries with its partitions and its groups'
// per-partition lags.
func (v *Topics) Report() *TopicReport {
	r := &TopicReport{Topics: []TopicDetail{}}
	if v.SizeErr != nil {
		r.SizeError = v.SizeErr.Error()
	}
	if v.StallErr != nil {
		r.StallsError = v.StallErr.Error()
	}
	for _, s := range v.Summaries() {
		d := TopicDetail{TopicSummary: s, PartitionList: []PartitionDesc{}}
		if s.Exists {
			d.PartitionList = append(d.PartitionList, v.partitionDescs(s.Name)...)
			for i := range d.Groups {
				d.Groups[i].Partitions = v.GroupLag(s.Name, d.Groups[i].Group).Partitions
			}
		}
		r.Topics = append(r.Topics, d)
	}
	return r
}

// Topics is GET /v1/topics: every topic of the cluster, Surge's first,
// read as `surge topics list` reads them.
func (in *Inspector) Topics(ctx context.Context) (*TopicReport, error) {
	v, err := ReadTopics(ctx, in.adm, TopicsConfig{Names: in.cfg.Names, ClientOpts: in.cfg.ClientOpts, Registry: in.cfg.Registry})
	if err != nil {
		return nil, err
	}
	return v.Report(), nil
}
