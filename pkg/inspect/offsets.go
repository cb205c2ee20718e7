package inspect

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ReadOffsets lists the start and stable offsets of the partitions of
// every topic in partitions (topics that exist), and unless there are no
// groups to read, the consumer groups' states and the committed offsets of
// groups — and, with everyGroup, of every group the cluster lists too. A group that does not answer its
// offset fetch is left out (its lag counts from the start).
func ReadOffsets(ctx context.Context, adm *kadm.Client, partitions map[string][]int32, groups []string, everyGroup bool) (*Offsets, error) {
	o := &Offsets{Partitions: partitions, Committed: map[string]kadm.OffsetResponses{}, States: map[string]string{}, Members: map[string]int{}}
	names := make([]string, 0, len(partitions))
	for t := range partitions {
		names = append(names, t)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return o, nil
	}
	list := func(what string, fn func(context.Context, ...string) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
		l, err := fn(ctx, names...)
		if err == nil {
			err = l.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s offsets: %w", what, err)
		}
		return l, nil
	}
	var err error
	if o.Starts, err = list("start", adm.ListStartOffsets); err != nil {
		return nil, err
	}
	if o.Stable, err = list("stable", adm.ListCommittedOffsets); err != nil {
		return nil, err
	}
	if len(groups) == 0 && !everyGroup {
		return o, nil
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing consumer groups: %w", err)
	}
	for _, g := range listed {
		o.States[g.Group] = g.State
	}
	fetch := slices.Clone(groups)
	if everyGroup {
		for _, g := range listed.Groups() {
			if !slices.Contains(fetch, g) {
				fetch = append(fetch, g)
			}
		}
	}
	for g, r := range adm.FetchManyOffsets(ctx, fetch...) {
		if r.Err == nil {
			o.Committed[g] = r.Fetched
		}
	}
	return o, nil
}

// PartitionsOf are the sorted partitions of every topic of meta.
func PartitionsOf(meta kadm.TopicDetails) map[string][]int32 {
	out := map[string][]int32{}
	for name, d := range meta {
		if d.Err != nil {
			continue
		}
		ps := make([]int32, 0, len(d.Partitions))
		for p := range d.Partitions {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		out[name] = ps
	}
	return out
}
