package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/awsdest"
	"github.com/surgehq/surge/pkg/stream"
	"github.com/surgehq/surge/pkg/topics"
)

// Issue 17's AWS destinations, end to end through `surge dev` (embedded
// Kafka) to an AWS emulator: events posted to ingest go through enrich,
// fanout and the dispatcher to an SQS queue or an EventBridge bus, and the
// test reads what arrived with the AWS SDK. `make test-aws` runs them.

// subscribeDestination creates a subscription for every event type with
// the destination (its JSON), a short retry schedule, the rate limit (0
// for none) and a 30 s timeout (moto on a busy machine can take seconds
// to answer), and returns its id.
func subscribeDestination(t *testing.T, stack *devStack, dir, destination string, ratePerS int) string {
	t.Helper()
	out := adminCall(t, stack.AdminURL, adminToken(t, dir), "POST", "/v1/subscriptions",
		fmt.Sprintf(`{"event_types":["*"],"destination":%s,"retry_schedule":["1s","1s","2s"],"rate_limit_per_s":%d,"timeout_ms":30000}`, destination, ratePerS))
	if d, _ := out["destination"].(map[string]any); d == nil || d["kind"] == "" {
		t.Fatalf("the created subscription shows no destination: %v", out)
	}
	return out["id"].(string)
}

// emulatorRate is the rate limit (deliveries/s) of the 2,000-event runs:
// moto answers a ReceiveMessage in time that grows with the queue's
// length, so the test's reader must keep the queue short.
const emulatorRate = 40

// sqsDestination is the JSON of an SQS destination at the emulator (or a
// proxy in front of it).
func sqsDestination(queueURL, endpoint string) string {
	return fmt.Sprintf(`{"kind":"sqs","sqs":{"queue_url":%q,"region":%q,"endpoint_url":%q}}`, queueURL, awsRegion, endpoint)
}

// checkFIFOArrivals checks messages read from a FIFO queue against the
// events posted: exactly one message per webhook-id, n in all; the group
// of each is its entity key; each entity's versions arrive 1, 2, 3, ...
// in the queue's order, up to the version posted last.
func checkFIFOArrivals(t *testing.T, msgs []sqsMessage, n int, versions map[string]int64) {
	t.Helper()
	seen := map[string]int{}
	last := map[string]int64{}
	for i, m := range msgs {
		var b webhookBody
		if err := json.Unmarshal([]byte(m.Body), &b); err != nil {
			t.Fatalf("message %d: body %q: %v", i, m.Body, err)
		}
		id := m.Attributes[awsdest.AttributeWebhookID]
		if seen[id]++; seen[id] > 1 {
			t.Fatalf("webhook-id %s arrived %d times", id, seen[id])
		}
		if m.GroupID != entityKey(b) || m.Attributes[awsdest.AttributeEntityKey] != entityKey(b) || m.Attributes[awsdest.AttributeEventType] != b.Type {
			t.Fatalf("message %d of %s: group %q, attributes %v", i, entityKey(b), m.GroupID, m.Attributes)
		}
		if b.Entity.Version != last[entityKey(b)]+1 {
			t.Fatalf("%s: version %d arrived after %d", entityKey(b), b.Entity.Version, last[entityKey(b)])
		}
		last[entityKey(b)] = b.Entity.Version
	}
	if len(seen) != n {
		t.Fatalf("%d distinct webhook-ids arrived, want %d", len(seen), n)
	}
	for k, v := range versions {
		if last[k] != v {
			t.Fatalf("%s: arrived up to version %d, want %d", k, last[k], v)
		}
	}
}

// TestSQSFIFODestinationEndToEnd: 2,000 events over 50 entities reach an
// SQS FIFO queue once per webhook-id, each entity's in ingest order, its
// messages grouped by entity key.
func TestSQSFIFODestinationEndToEnd(t *testing.T) {
	emu := needAWSEmulator(t)
	stack, dir := startTestDev(t, zap.ErrorLevel)
	queueURL, _ := emu.createQueue(t, uniqueName("surge-e2e")+".fifo")
	subscribeDestination(t, stack, dir, sqsDestination(queueURL, emu.URL), emulatorRate)
	qr := emu.readQueue(t, queueURL)

	const n, entities = 2000, 50
	start := time.Now()
	versions := postOrders(t, stack.IngestURL, n, entities)
	qr.waitFor(t, n, 480*time.Second)
	t.Logf("%d events → %d SQS FIFO messages in %s", n, n, time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // a duplicate would arrive by now
	checkFIFOArrivals(t, qr.messages(), n, versions)
}

// ebEvent is what an EventBridge rule sends an SQS target: the event
// envelope with Surge's entry in it.
type ebEvent struct {
	ID         string      `json:"id"`
	DetailType string      `json:"detail-type"`
	Source     string      `json:"source"`
	Time       time.Time   `json:"time"`
	Resources  []string    `json:"resources"`
	Detail     webhookBody `json:"detail"`
}

// TestEventBridgeDestinationEndToEnd: 2,000 events over 50 entities are
// put on an EventBridge bus, whose rule sends them to an SQS queue: every
// event arrives once, with Source the destination's, DetailType the event
// type, Resources the entity key and Detail the webhook body, and every
// version of every entity is there.
func TestEventBridgeDestinationEndToEnd(t *testing.T) {
	emu := needAWSEmulator(t)
	stack, dir := startTestDev(t, zap.ErrorLevel)
	ctx := context.Background()
	bus := uniqueName("surge-e2e")
	if _, err := emu.Events.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatalf("creating bus %s: %v", bus, err)
	}
	t.Cleanup(func() {
		_, _ = emu.Events.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String("to-queue"), EventBusName: aws.String(bus), Ids: []string{"queue"}})
		_, _ = emu.Events.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("to-queue"), EventBusName: aws.String(bus)})
		_, _ = emu.Events.DeleteEventBus(ctx, &eventbridge.DeleteEventBusInput{Name: aws.String(bus)})
	})
	queueURL, queueARN := emu.createQueue(t, bus+"-target")
	const source = "surge.e2e"
	if _, err := emu.Events.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("to-queue"), EventBusName: aws.String(bus),
		EventPattern: aws.String(fmt.Sprintf(`{"source":[%q]}`, source))}); err != nil {
		t.Fatalf("creating the rule: %v", err)
	}
	if _, err := emu.Events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("to-queue"), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(queueARN)}}}); err != nil {
		t.Fatalf("adding the queue target: %v", err)
	}
	subscribeDestination(t, stack, dir, fmt.Sprintf(`{"kind":"eventbridge","eventbridge":{"event_bus":%q,"source":%q,"region":%q,"endpoint_url":%q}}`, bus, source, awsRegion, emu.URL), emulatorRate)
	qr := emu.readQueue(t, queueURL)

	const n, entities = 2000, 50
	start := time.Now()
	versions := postOrders(t, stack.IngestURL, n, entities)
	qr.waitFor(t, n, 480*time.Second)
	t.Logf("%d events → %d EventBridge entries in %s", n, n, time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second)

	seen := map[string]bool{}
	got := map[string]map[int64]bool{}
	for i, m := range qr.messages() {
		var e ebEvent
		if err := json.Unmarshal([]byte(m.Body), &e); err != nil {
			t.Fatalf("message %d: %q: %v", i, m.Body, err)
		}
		if seen[e.Detail.ID] {
			t.Fatalf("event %s arrived twice", e.Detail.ID)
		}
		seen[e.Detail.ID] = true
		key := entityKey(e.Detail)
		if e.Source != source || e.DetailType != e.Detail.Type || e.DetailType != "order.updated" || len(e.Resources) != 1 || e.Resources[0] != key || e.Time.IsZero() {
			t.Fatalf("message %d: %+v", i, e)
		}
		if got[key] == nil {
			got[key] = map[int64]bool{}
		}
		got[key][e.Detail.Entity.Version] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct events arrived, want %d", len(seen), n)
	}
	for k, v := range versions {
		for ver := int64(1); ver <= v; ver++ {
			if !got[k][ver] {
				t.Fatalf("%s: version %d never arrived", k, ver)
			}
		}
	}
}

// TestSQSThrottledCallIsRetried: a proxy in front of the emulator answers
// the first SendMessage with ThrottlingException; the dispatcher backs off
// and sends it again, and every message arrives once, in order.
func TestSQSThrottledCallIsRetried(t *testing.T) {
	emu := needAWSEmulator(t)
	stack, dir := startTestDev(t, zap.ErrorLevel)
	queueURL, _ := emu.createQueue(t, uniqueName("surge-throttle")+".fifo")
	proxy := newThrottlingProxy(t, emu.URL, "AmazonSQS.SendMessage", 1)
	subscribeDestination(t, stack, dir, sqsDestination(queueURL, proxy.URL), 0)
	qr := emu.readQueue(t, queueURL)

	const n, entities = 20, 4
	versions := postOrders(t, stack.IngestURL, n, entities)
	qr.waitFor(t, n, 60*time.Second)
	time.Sleep(time.Second)
	if th, fw := proxy.throttled.Load(), proxy.forwarded.Load(); th != 1 || fw != n {
		t.Fatalf("the proxy throttled %d and forwarded %d SendMessage calls, want 1 and %d", th, fw, n)
	}
	checkFIFOArrivals(t, qr.messages(), n, versions)
}

// TestSQSMissingQueueDeadLettersAndReplays: deliveries to a queue that
// does not exist are dead-lettered at once with AWS's error code in the
// surge.dlq.aws-error-code header; once the queue exists, a replay from
// the DLQ brings them all to it, in order.
func TestSQSMissingQueueDeadLettersAndReplays(t *testing.T) {
	emu := needAWSEmulator(t)
	stack, dir := startTestDev(t, zap.ErrorLevel)
	name := uniqueName("surge-missing") + ".fifo"
	queueURL := strings.TrimSuffix(emu.URL, "/") + "/123456789012/" + name // moto's default account
	sub := subscribeDestination(t, stack, dir, sqsDestination(queueURL, emu.URL), 0)

	const n, entities = 30, 5
	versions := rejectAll(t, stack, n, entities)
	st := dlqStats(t, stack, topics.DeliveriesDLQ)
	if st.Total != n || st.BySubscription[sub] != n || st.ByClass["rejected"] != n {
		t.Fatalf("stats: %+v", st)
	}
	for _, r := range records(t, stack, topics.DeliveriesDLQ) {
		code := stream.Header(r, topics.HeaderDLQAWSErrorCode)
		if !strings.Contains(code, "NonExistentQueue") && code != "QueueDoesNotExist" {
			t.Fatalf("dead letter headers: %s = %q, want the missing queue's code; error %q",
				topics.HeaderDLQAWSErrorCode, code, stream.Header(r, topics.HeaderDLQError))
		}
		if got := stream.Header(r, topics.HeaderDLQAttempts); got != "1" {
			t.Fatalf("a missing queue was tried %s times; it can never succeed", got)
		}
	}
	t.Logf("dead letter error: %s", stream.Header(records(t, stack, topics.DeliveriesDLQ)[0], topics.HeaderDLQError))

	created, _ := emu.createQueue(t, name)
	if created != queueURL {
		t.Fatalf("the queue was created at %s, the subscription sends to %s", created, queueURL)
	}
	qr := emu.readQueue(t, queueURL)
	out := mustDLQ(t, stack, "replay")
	if !strings.Contains(out, fmt.Sprintf("done: %d of %d", n, n)) {
		t.Fatalf("replay:\n%s", out)
	}
	qr.waitFor(t, n, 60*time.Second)
	time.Sleep(time.Second)
	checkFIFOArrivals(t, qr.messages(), n, versions)
}
