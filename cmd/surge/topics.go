package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// topicsOptions are the flags every `surge topics` command shares.
type topicsOptions struct {
	Kafka    config.Kafka
	Registry config.Registry // decodes commerce.stalls
	JSON     bool
	Timeout  time.Duration
}

func newTopicsCommand() *cobra.Command {
	var o topicsOptions
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Show Surge's Kafka topics: layout, size, offsets and each stage's lag",
		Long: `List Surge's topics (and any other topic of the cluster, marked) with their
partitions, replication, cleanup policy, size and end offsets, and the lag
of every consumer group that reads them; or describe one topic partition
by partition.

Lag is counted to the last stable offset (what a read_committed consumer
such as every Surge stage can read), for the stage that reads the topic
(surge-enrich on commerce.events.raw, surge-fanout on
commerce.events.enriched, surge-dispatcher on commerce.deliveries and
commerce.deliveries.retry, each with --topic-prefix in front) and for any
other group that committed offsets on it. A partition a group has no
committed offset on counts from the partition's start, where Surge's
stages begin. The dispatcher commits an offset once every delivery before
it is done, so deliveries held for a paused subscription or waiting for a
retry show as its lag on the topic they are on.

A lag is marked stalled when the stage instance that owns the partition
reported it stalled — records to process and nothing moved for longer than
its --stall-after — and the group has not moved past that offset since.
The stages write these reports to commerce.stalls (decoded through
--registry); describe shows each stalled partition's reason. Held or
parked deliveries are no stall.

list ends with each subscription's backlog in the dispatchers: deliveries
waiting in memory and in the retry topic, the age of the oldest and the
deliveries finished per second, summed over the dispatcher instances'
fresh reports in commerce.backlog (at most four of their --backlog-every
old), or "backlog: none".

Sizes come from the brokers' log directories (DescribeLogDirs) and count
every replica; a broker that does not answer it shows n/a.

--brokers, --registry, --topic-prefix and --timeout also read
SURGE_BROKERS, SURGE_REGISTRY, SURGE_TOPIC_PREFIX and SURGE_TIMEOUT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringSliceVar(&o.Kafka.Brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers, comma separated")
	pf.StringVar(&o.Kafka.TopicPrefix, "topic-prefix", "", "prefix of every Surge topic and consumer group name")
	pf.StringVar(&o.Registry.URL, "registry", "http://127.0.0.1:8085", "schema registry URL (to read the stages' stall reports)")
	pf.BoolVar(&o.JSON, "json", false, "print JSON instead of tables")
	pf.DurationVar(&o.Timeout, "timeout", 30*time.Second, "give up after this long")
	o.Kafka.Partitions, o.Kafka.ReplicationFactor = 1, 1 // not used: nothing is created

	// run binds the environment, validates, and calls fn with an admin
	// client and a bounded context.
	run := func(cmd *cobra.Command, fn func(ctx context.Context, adm *kadm.Client, out io.Writer) error) error {
		if err := config.BindEnv(cmd.Flags()); err != nil {
			return cli.ConfigError{Err: err}
		}
		if err := errors.Join(o.Kafka.Validate(), o.Registry.Validate(), config.ValidatePositive("timeout", o.Timeout)); err != nil {
			return cli.ConfigError{Err: err}
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		cl, err := kgo.NewClient(kafkax.ClientOpts(o.Kafka, nil)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		err = fn(ctx, kadm.NewClient(cl), cmd.OutOrStdout())
		if err != nil && ctx.Err() != nil && cmd.Context().Err() == nil {
			err = fmt.Errorf("%w (no answer from Kafka at %s within --timeout %s)", err, strings.Join(o.Kafka.Brokers, ","), o.Timeout)
		}
		return err
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List topics with partitions, replication, cleanup policy, size, end offsets and lag per stage",
		Example: `  surge topics list
  surge topics list --brokers kafka-1:9092 --topic-prefix staging. --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, func(ctx context.Context, adm *kadm.Client, out io.Writer) error {
				v, err := inspectTopics(ctx, adm, o.Kafka, o.Registry.URL, "")
				if err != nil {
					return err
				}
				if o.JSON {
					doc := map[string]any{"topics": v.summaries()}
					if v.stallErr != nil {
						doc["stalls_error"] = v.stallErr.Error()
					}
					doc["backlog"] = v.backlog
					if v.backlogErr != nil {
						doc["backlog_error"] = v.backlogErr.Error()
					}
					return printTopicsJSON(out, doc)
				}
				return v.printList(out)
			})
		},
	}
	describe := &cobra.Command{
		Use:   "describe TOPIC",
		Short: "Describe one topic: partitions, offsets, sizes, every group's committed offsets and lag, configs that differ from defaults",
		Long: `Describe one topic partition by partition: leader, replicas, in-sync
replicas, start and end offsets and size; then every consumer group that
reads it (its stage's group, and any group with committed offsets on it)
with its committed offset and lag per partition; then the topic's configs
that are set on the topic rather than left to the broker's defaults.

TOPIC is the full name, or a Surge topic's name without --topic-prefix.`,
		Example: `  surge topics describe commerce.deliveries
  surge topics describe commerce.events.raw --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd, func(ctx context.Context, adm *kadm.Client, out io.Writer) error {
				v, err := inspectTopics(ctx, adm, o.Kafka, o.Registry.URL, strings.TrimSpace(args[0]))
				if err != nil {
					return err
				}
				d := v.describe(v.only)
				if o.JSON {
					return printTopicsJSON(out, d)
				}
				return d.print(out)
			})
		},
	}
	cmd.AddCommand(list, describe)
	return cmd
}

func printTopicsJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// stageReaders names the stage consumer group that reads each Surge topic.
var stageReaders = map[string]string{
	topics.EventsRaw:       topics.GroupEnrich,
	topics.EventsEnriched:  topics.GroupFanout,
	topics.Deliveries:      topics.GroupDispatcher,
	topics.DeliveriesRetry: topics.GroupDispatcher,
}

// topicsView is what the cluster said about its topics and groups, read
// once.
type topicsView struct {
	names   topics.Namer
	only    string                   // describe: the one topic
	surge   []string                 // Surge topic names in pipeline order, with the prefix
	meta    kadm.TopicDetails        // existing topics
	starts  kadm.ListedOffsets       // log start offsets
	ends    kadm.ListedOffsets       // log end offsets
	stable  kadm.ListedOffsets       // last stable offsets: read_committed's end
	sizes   kadm.DescribedAllLogDirs // nil: the brokers did not say
	sizeErr error
	configs map[string][]kadm.Config
	groups  map[string]kadm.OffsetResponses // group → committed offsets
	states  map[string]string               // group → state, if listed
	members map[string]int                  // group → members, describe only
	probed  map[string]map[int32]probe      // small gaps read record by record
	// stalls are the stages' stall reports by stream.StallKey;
	// stallErr says why they could not be read (then none is marked).
	stalls   map[string]stream.Stall
	stallErr error
	// backlog is every subscription's backlog in the dispatchers, from
	// their fresh reports, by subscription id; backlogErr says why it
	// could not be read.
	backlog    []backlog.Summary
	backlogErr error
}

// probe is what reading a partition from an offset to its stable end
// found: the offsets of the data records, leaving out transaction markers.
type probe struct {
	from    int64
	offsets []int64 // sorted
}

// maxProbe is the widest gap between a group's position and a
// partition's stable end that is read to count its records.
const maxProbe = 100

// inspectTopics reads everything list needs, or with only set, what
// describe needs for that one topic; registryURL decodes the stall
// reports.
func inspectTopics(ctx context.Context, adm *kadm.Client, kafka config.Kafka, registryURL, only string) (*topicsView, error) {
	prefix := kafka.TopicPrefix
	v := &topicsView{names: topics.Namer{Prefix: prefix}, groups: map[string]kadm.OffsetResponses{}, states: map[string]string{}, members: map[string]int{}}
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

	list := func(what string, fn func(context.Context, ...string) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
		o, err := fn(ctx, names...)
		if err == nil {
			err = o.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s offsets: %w", what, err)
		}
		return o, nil
	}
	if v.starts, err = list("start", adm.ListStartOffsets); err != nil {
		return nil, err
	}
	if v.ends, err = list("end", adm.ListEndOffsets); err != nil {
		return nil, err
	}
	if v.stable, err = list("stable", adm.ListCommittedOffsets); err != nil {
		return nil, err
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

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing consumer groups: %w", err)
	}
	groups := listed.Groups()
	for _, g := range listed {
		v.states[g.Group] = g.State
	}
	for _, g := range stageReaders {
		if g = prefix + g; !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	for g, r := range adm.FetchManyOffsets(ctx, groups...) {
		if r.Err == nil {
			v.groups[g] = r.Fetched
		}
	}
	v.probeGaps(ctx, kafka)
	// Like sizes, stall marks are read on a best-effort basis: without the
	// registry the lags still show, with a line saying the marks are n/a.
	v.stalls, v.stallErr = readStalls(ctx, kafka, registryURL, v.exists(v.names.Name(topics.Stalls)))
	v.backlog, v.backlogErr = readBacklog(ctx, kafka, registryURL, v.exists(v.names.Name(topics.Backlog)), time.Now())
	if only != "" {
		if described, err := adm.DescribeGroups(ctx, v.readers(only)...); err == nil {
			for _, d := range described {
				if d.Err == nil {
					v.members[d.Group] = len(d.Members)
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
	for g, offs := range v.groups {
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
	var ps []int32
	for p := range v.meta[topic].Partitions {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

func (v *topicsView) offset(o kadm.ListedOffsets, topic string, p int32) int64 {
	if l, ok := o.Lookup(topic, p); ok && l.Err == nil {
		return l.Offset
	}
	return 0
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

// groupLag is one group's position on one topic.
type groupLag struct {
	Group      string         `json:"group"`
	Stage      bool           `json:"stage"`           // the Surge stage that reads the topic
	State      string         `json:"state,omitempty"` // Stable, Empty, ...
	Members    *int           `json:"members,omitempty"`
	Committed  bool           `json:"committed"` // has a committed offset on some partition
	Lag        int64          `json:"lag"`
	Stalled    int            `json:"stalled_partitions"` // partitions whose lag is stalled (see stallOf)
	Partitions []partitionLag `json:"partitions,omitempty"`
}

type partitionLag struct {
	Partition int32      `json:"partition"`
	Committed *int64     `json:"committed"` // nil: none, the lag counts from the start
	Lag       int64      `json:"lag"`
	Stall     *stallMark `json:"stall,omitempty"` // set while the stage reports the partition stalled
}

// lag is group's position on topic. A partition's lag is the number of
// records from the group's committed offset (or the partition's start,
// where Surge's stages begin, if it has none) to the stable end. Every
// transaction leaves a commit marker that takes an offset but is no record,
// and a transactional consumer commits the offset after its last record,
// before the marker: so a gap of up to maxProbe offsets is read and its
// records counted, and a wider gap is the offset difference, a few
// markers over.
func (v *topicsView) lag(topic, group string) groupLag {
	gl := groupLag{Group: group, Stage: group == v.stage(topic), State: v.states[group]}
	if n, ok := v.members[group]; ok {
		gl.Members = &n
	}
	for _, p := range v.partitions(topic) {
		pos := v.position(topic, p, group)
		pl := partitionLag{Partition: p, Lag: v.records(topic, p, pos)}
		if o, ok := v.groups[group].Lookup(topic, p); ok && o.Err == nil && o.At >= 0 {
			at := o.At
			pl.Committed = &at
			gl.Committed = true
		}
		if pl.Stall = v.stallOf(topic, p, group, pl.Lag); pl.Stall != nil {
			gl.Stalled++
		}
		gl.Lag += pl.Lag
		gl.Partitions = append(gl.Partitions, pl)
	}
	return gl
}

// position is where group reads partition p of topic from: its committed
// offset, else the partition's start.
func (v *topicsView) position(topic string, p int32, group string) int64 {
	start := v.offset(v.starts, topic, p)
	if o, ok := v.groups[group].Lookup(topic, p); ok && o.Err == nil && o.At >= 0 {
		return max(o.At, start)
	}
	return start
}

// records counts the records from pos to the stable end.
func (v *topicsView) records(topic string, p int32, pos int64) int64 {
	end := v.offset(v.stable, topic, p)
	if pos >= end {
		return 0
	}
	if pr, ok := v.probed[topic][p]; ok && pos >= pr.from {
		i, _ := slices.BinarySearch(pr.offsets, pos)
		return int64(len(pr.offsets) - i)
	}
	return end - pos
}

// probeGaps reads every partition some group is at most maxProbe offsets
// behind on, from the lowest such position to the stable end, and keeps
// the offsets of its data records. It gives up quietly (the lag stays an
// offset difference) if that takes more than a few seconds.
func (v *topicsView) probeGaps(ctx context.Context, kafka config.Kafka) {
	from := map[string]map[int32]int64{}
	for _, topic := range v.meta.Names() {
		if v.only != "" && topic != v.only {
			continue
		}
		for _, group := range v.readers(topic) {
			for _, p := range v.partitions(topic) {
				pos := v.position(topic, p, group)
				if gap := v.offset(v.stable, topic, p) - pos; gap <= 0 || gap > maxProbe {
					continue
				}
				if from[topic] == nil {
					from[topic] = map[int32]int64{}
				}
				if f, ok := from[topic][p]; !ok || pos < f {
					from[topic][p] = pos
				}
			}
		}
	}
	if len(from) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	type tp struct {
		t string
		p int32
	}
	ranges := kafkax.Ranges{}
	found := map[tp][]int64{}
	for t, ps := range from {
		ranges[t] = map[int32]kafkax.Range{}
		for p, f := range ps {
			ranges[t][p] = kafkax.Range{From: f, End: v.offset(v.stable, t, p)}
		}
	}
	err := kafkax.RangeReader{Opts: kafkax.ClientOpts(kafka, nil)}.Read(ctx, ranges, func(r *kgo.Record) error {
		k := tp{r.Topic, r.Partition}
		found[k] = append(found[k], r.Offset)
		return nil
	})
	if err != nil {
		return
	}
	v.probed = map[string]map[int32]probe{}
	for t, ps := range from {
		v.probed[t] = map[int32]probe{}
		for p, f := range ps {
			v.probed[t][p] = probe{from: f, offsets: found[tp{t, p}]}
		}
	}
}

// topicSummary is one line of `surge topics list`.
type topicSummary struct {
	Name              string     `json:"name"`
	Surge             bool       `json:"surge"`  // named by Surge (with the prefix)
	Exists            bool       `json:"exists"` // false: a Surge topic not created yet
	Partitions        int        `json:"partitions"`
	ReplicationFactor int        `json:"replication_factor"`
	CleanupPolicy     string     `json:"cleanup_policy,omitempty"`
	SizeBytes         *int64     `json:"size_bytes"` // null: the brokers did not say
	EndOffsets        int64      `json:"end_offsets"`
	Groups            []groupLag `json:"groups"`
}

// summaries are Surge's topics in pipeline order, then the others by name.
func (v *topicsView) summaries() []topicSummary {
	var out []topicSummary
	add := func(name string) {
		s := topicSummary{Name: name, Surge: v.isSurge(name), Exists: v.exists(name), Groups: []groupLag{}}
		if !s.Exists {
			if name != topics.Schemas { // an external registry may keep it elsewhere
				out = append(out, s)
			}
			return
		}
		ps := v.partitions(name)
		s.Partitions = len(ps)
		for _, p := range ps {
			s.ReplicationFactor = max(s.ReplicationFactor, len(v.meta[name].Partitions[p].Replicas))
			s.EndOffsets += v.offset(v.ends, name, p)
		}
		s.CleanupPolicy = v.config(name, "cleanup.policy")
		s.SizeBytes = v.topicSize(name)
		for _, g := range v.readers(name) {
			gl := v.lag(name, g)
			gl.Partitions = nil
			s.Groups = append(s.Groups, gl)
		}
		out = append(out, s)
	}
	for _, t := range v.surge {
		add(t)
	}
	for _, t := range v.meta.Names() {
		if !v.isSurge(t) {
			add(t)
		}
	}
	return out
}

func (v *topicsView) printList(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tRF\tCLEANUP\tSIZE\tEND OFFSETS\tLAG")
	others, missing, stalled := false, 0, false
	for _, s := range v.summaries() {
		name := s.Name
		if !s.Surge {
			name += " *"
			others = true
		}
		if !s.Exists {
			fmt.Fprintf(tw, "%s\t(missing)\t-\t-\t-\t-\t-\n", name)
			missing++
			continue
		}
		var lags []string
		for _, g := range s.Groups {
			l := fmt.Sprintf("%s %d", g.Group, g.Lag)
			if !g.Committed {
				l += " (no commits)"
			}
			if g.Stalled > 0 {
				l += " (stalled)"
				stalled = true
			}
			lags = append(lags, l)
		}
		if len(lags) == 0 {
			lags = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%s\n", name, s.Partitions, s.ReplicationFactor, orDash(s.CleanupPolicy),
			sizeText(s.SizeBytes), s.EndOffsets, strings.Join(lags, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if others {
		fmt.Fprintln(out, "* not a Surge topic")
	}
	if missing == len(v.surge)-1 { // _schemas is never listed missing
		fmt.Fprintf(out, "no Surge topic here: every Surge service creates them at start; is --topic-prefix (%q) the services' one?\n", v.names.Prefix)
	}
	if v.sizeErr != nil {
		fmt.Fprintf(out, "sizes n/a: the brokers did not describe their log dirs (%v)\n", v.sizeErr)
	}
	if stalled {
		fmt.Fprintln(out, "(stalled): the stage reports records it cannot process; surge topics describe TOPIC says why (docs/runbook.md)")
	}
	if v.stallErr != nil {
		fmt.Fprintf(out, "stall marks n/a: reading the stages' stall reports: %v\n", v.stallErr)
	}
	return v.printBacklog(out)
}

// topicDescription is `surge topics describe`.
type topicDescription struct {
	Name              string            `json:"name"`
	Surge             bool              `json:"surge"`
	ReplicationFactor int               `json:"replication_factor"`
	SizeBytes         *int64            `json:"size_bytes"`
	Partitions        []partitionDesc   `json:"partitions"`
	Groups            []groupLag        `json:"groups"`
	Configs           map[string]string `json:"configs"` // set on the topic, not defaults
	SizeError         string            `json:"size_error,omitempty"`
	StallsError       string            `json:"stalls_error,omitempty"` // why no lag could be marked stalled
}

type partitionDesc struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	Start     int64   `json:"start"`
	End       int64   `json:"end"`
	StableEnd int64   `json:"stable_end"` // read_committed's end; below End while a transaction is open
	SizeBytes *int64  `json:"size_bytes"`
}

func (v *topicsView) describe(topic string) topicDescription {
	d := topicDescription{Name: topic, Surge: v.isSurge(topic), SizeBytes: v.topicSize(topic), Configs: map[string]string{}, Groups: []groupLag{}}
	if v.sizeErr != nil {
		d.SizeError = v.sizeErr.Error()
	}
	if v.stallErr != nil {
		d.StallsError = v.stallErr.Error()
	}
	for _, p := range v.partitions(topic) {
		pd := v.meta[topic].Partitions[p]
		d.ReplicationFactor = max(d.ReplicationFactor, len(pd.Replicas))
		d.Partitions = append(d.Partitions, partitionDesc{
			Partition: p, Leader: pd.Leader, Replicas: int32sOrEmpty(pd.Replicas), ISR: int32sOrEmpty(pd.ISR),
			Start: v.offset(v.starts, topic, p), End: v.offset(v.ends, topic, p), StableEnd: v.offset(v.stable, topic, p),
			SizeBytes: v.partitionSize(topic, p),
		})
	}
	for _, g := range v.readers(topic) {
		d.Groups = append(d.Groups, v.lag(topic, g))
	}
	for _, c := range v.configs[topic] {
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

func (d topicDescription) print(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	kind := "a Surge topic"
	if !d.Surge {
		kind = "not a Surge topic"
	}
	fmt.Fprintf(tw, "topic\t%s (%s)\n", d.Name, kind)
	fmt.Fprintf(tw, "partitions\t%d, replication factor %d\n", len(d.Partitions), d.ReplicationFactor)
	fmt.Fprintf(tw, "size\t%s (every replica)\n", sizeText(d.SizeBytes))
	keys := make([]string, 0, len(d.Configs))
	for k := range d.Configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		fmt.Fprintf(tw, "configs\t(all defaults)\n")
	}
	for i, k := range keys {
		label := ""
		if i == 0 {
			label = "configs"
		}
		fmt.Fprintf(tw, "%s\t%s=%s\n", label, k, d.Configs[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tREPLICAS\tISR\tSTART\tEND\tSIZE")
	for _, p := range d.Partitions {
		end := fmt.Sprint(p.End)
		if p.StableEnd != p.End {
			end += fmt.Sprintf(" (stable %d)", p.StableEnd)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%s\t%s\n", p.Partition, p.Leader, int32sText(p.Replicas), int32sText(p.ISR), p.Start, end, sizeText(p.SizeBytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	for _, g := range d.Groups {
		fmt.Fprintln(out)
		var about []string
		if g.Stage {
			about = append(about, "the stage that reads this topic")
		}
		if g.State != "" {
			about = append(about, g.State)
		}
		if g.Members != nil {
			about = append(about, fmt.Sprintf("%d member%s", *g.Members, map[bool]string{true: "s"}[*g.Members != 1]))
		}
		if !g.Committed {
			about = append(about, "no committed offsets")
		}
		head := "group " + g.Group
		if len(about) > 0 {
			head += " (" + strings.Join(about, ", ") + ")"
		}
		stalled := ""
		if g.Stalled > 0 {
			stalled = fmt.Sprintf(", stalled on %d partition%s", g.Stalled, map[bool]string{true: "s"}[g.Stalled != 1])
		}
		fmt.Fprintf(out, "%s: lag %d%s\n", head, g.Lag, stalled)
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		if g.Stalled > 0 {
			fmt.Fprintln(tw, "PARTITION\tCOMMITTED\tLAG\tSTALLED")
		} else {
			fmt.Fprintln(tw, "PARTITION\tCOMMITTED\tLAG")
		}
		for _, p := range g.Partitions {
			committed := "-"
			if p.Committed != nil {
				committed = fmt.Sprint(*p.Committed)
			}
			switch {
			case p.Stall != nil:
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", p.Partition, committed, p.Lag, stallText(p.Stall, time.Now()))
			case g.Stalled > 0:
				fmt.Fprintf(tw, "%d\t%s\t%d\t-\n", p.Partition, committed, p.Lag)
			default:
				fmt.Fprintf(tw, "%d\t%s\t%d\n", p.Partition, committed, p.Lag)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(d.Groups) == 0 {
		fmt.Fprintln(out, "\nno consumer group has committed offsets on this topic")
	}
	if d.SizeError != "" {
		fmt.Fprintf(out, "sizes n/a: the brokers did not describe their log dirs (%s)\n", d.SizeError)
	}
	if d.StallsError != "" {
		fmt.Fprintf(out, "stall marks n/a: reading the stages' stall reports: %s\n", d.StallsError)
	}
	return nil
}

// stallText is a stalled partition's STALLED column: since when, at which
// offset, by which instance, and why.
func stallText(s *stallMark, now time.Time) string {
	who := ""
	if s.Instance != "" {
		who = " on " + s.Instance
	}
	return fmt.Sprintf("at offset %d for %s (since %s%s): %s", s.Offset, now.Sub(s.Since).Round(time.Second),
		s.Since.Format(time.RFC3339), who, s.Reason)
}

// sizeText prints a size in binary units, or n/a when unknown.
func sizeText(n *int64) string {
	if n == nil {
		return "n/a"
	}
	const unit = 1024
	if *n < unit {
		return fmt.Sprintf("%d B", *n)
	}
	v, i := float64(*n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

func int32sOrEmpty(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func int32sText(s []int32) string {
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = fmt.Sprint(n)
	}
	return orDash(strings.Join(parts, ","))
}
