package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgehq/surge/pkg/kafkatest"
	"github.com/surgehq/surge/pkg/topics"
)

// devDiagnosis is what a test that waited in vain on a surge dev stack
// prints: /readyz, every Surge counter that moved (histogram buckets and
// the Kafka client's byte counts left out), each stage's consumer group
// (state, members and their partitions, lag) and `surge trace` of the
// event, so that a rare failure in CI says which stage the event stopped
// at and whether a group was stuck rebalancing.
func devDiagnosis(t *testing.T, stack *devStack, eventID string) string {
	t.Helper()
	var b strings.Builder
	_, ready := kafkatest.Get(stack.AdminURL + "/readyz")
	b.WriteString("/readyz: " + strings.TrimSpace(ready) + "\n")
	_, metrics := kafkatest.Get(stack.AdminURL + "/metrics")
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, "surge_") || strings.HasPrefix(line, "surge_kafka_") || strings.Contains(line, "_bucket{") || strings.HasSuffix(line, " 0") {
			continue
		}
		b.WriteString(line + "\n")
	}
	b.WriteString(groupDiagnosis(stack.KafkaAddr))
	out, err := runCLI(t, "trace", eventID, "--brokers", stack.KafkaAddr, "--registry", stack.RegistryURL)
	if err != nil {
		b.WriteString("surge trace: " + err.Error() + "\n")
	}
	b.WriteString(out)
	return b.String()
}

// groupDiagnosis describes the stages' consumer groups on the cluster at
// brokers: state, each member's assigned partitions, and the lag.
func groupDiagnosis(brokers string) string {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return "groups: " + err.Error() + "\n"
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var groups []string
	for _, st := range topics.Pipeline() {
		if st.Group != "" {
			groups = append(groups, st.Group)
		}
	}
	var b strings.Builder
	described, err := adm.DescribeGroups(ctx, groups...)
	if err != nil {
		fmt.Fprintf(&b, "groups: %v\n", err)
	}
	for _, g := range described.Sorted() {
		fmt.Fprintf(&b, "group %s: state %s, protocol %s, %d members", g.Group, g.State, g.Protocol, len(g.Members))
		if g.Err != nil {
			fmt.Fprintf(&b, ", error %v", g.Err)
		}
		b.WriteString("\n")
		for _, m := range g.Members {
			var parts []string
			for _, tp := range assignedTo(m) {
				parts = append(parts, fmt.Sprintf("%s%v", tp.Topic, tp.Partitions))
			}
			sort.Strings(parts)
			fmt.Fprintf(&b, "  member %s (%s): %s\n", m.MemberID, m.ClientID, strings.Join(parts, " "))
		}
	}
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		fmt.Fprintf(&b, "lag: %v\n", err)
	}
	for _, g := range groups {
		l, ok := lags[g]
		if !ok {
			continue
		}
		for _, tl := range l.Lag.Sorted() {
			if tl.Lag != 0 {
				fmt.Fprintf(&b, "lag %s %s/%d: %d (committed %d, end %d)\n", g, tl.Topic, tl.Partition, tl.Lag, tl.Commit.At, tl.End.Offset)
			}
		}
	}
	return b.String()
}

// waitConsuming waits until every stage's consumer group on stack has all
// its input partitions assigned (kadm describes it Stable with them), so a
// test that then posts its first event measures what it claims, not a
// slow first rebalance. startDev itself waits for the stages to own
// partitions; the broker's view can lag it by a moment. A wait of more
// than 5 s is logged: twice under make test-kafka's load the first event
// after a fresh surge dev was not delivered within the test's wait,
// silently, and this is where the time would show if a group join is what
// held it.
func waitConsuming(t *testing.T, stack *devStack) {
	t.Helper()
	start := time.Now()
	for !stagesAssigned(t, stack) {
		if time.Since(start) > 90*time.Second {
			t.Fatalf("the stages' groups are not all assigned after 90s:\n%s", groupDiagnosis(stack.KafkaAddr))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Logf("the stages' consumer groups took %s to be assigned after surge dev started", took)
	}
}

// stagesAssigned reports whether the broker describes every stage's
// consumer group on stack Stable with all its input partitions assigned
// (testDevConfig's 3 per topic).
func stagesAssigned(t *testing.T, stack *devStack) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := map[string]int{} // group → input partitions
	for _, st := range topics.Pipeline() {
		if st.Group != "" {
			want[st.Group] = len(st.Reads) * 3
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	described, err := kadm.NewClient(cl).DescribeGroups(ctx, slices.Collect(maps.Keys(want))...)
	if err != nil {
		return false
	}
	for g, n := range want {
		d, ok := described[g]
		assigned := 0
		for _, m := range d.Members {
			for _, tp := range assignedTo(m) {
				assigned += len(tp.Partitions)
			}
		}
		if !ok || d.State != "Stable" || assigned != n {
			return false
		}
	}
	return true
}

// assignedTo is the partitions a consumer group member was assigned, by
// topic; none for a member that is not a consumer's.
func assignedTo(m kadm.DescribedGroupMember) []kmsg.ConsumerMemberAssignmentTopic {
	if a, ok := m.Assigned.AsConsumer(); ok {
		return a.Topics
	}
	return nil
}
