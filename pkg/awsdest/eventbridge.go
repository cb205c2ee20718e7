package awsdest

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook"
)

// putEvent puts r on the bus as one PutEvents entry: Source the
// destination's source, DetailType the event type, Detail the webhook
// body, Time the event's time, Resources the entity key. A failed entry
// in a successful answer is classified by its own error code.
func (c *client) putEvent(ctx, reqCtx context.Context, timeout time.Duration, r Request) webhook.Result {
	b := r.Destination.EventBridge
	source := b.Source
	if source == "" {
		source = subscription.DefaultEventBridgeSource
	}
	entry := types.PutEventsRequestEntry{
		EventBusName: aws.String(b.EventBus),
		Source:       aws.String(source),
		DetailType:   aws.String(r.EventType),
		Detail:       aws.String(string(r.Body)),
	}
	if r.EntityKey != "" {
		entry.Resources = []string{r.EntityKey}
	}
	if t := eventTime(r.Body); !t.IsZero() {
		entry.Time = aws.Time(t)
	}
	out, err := c.events.PutEvents(reqCtx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry}})
	if err != nil {
		return failed(ctx, reqCtx, timeout, err)
	}
	id, _ := requestID(out.ResultMetadata)
	if len(out.Entries) != 1 {
		return entryFailed("PutEvents", "InternalFailure", "the answer holds no entry for the one event put", id)
	}
	e := out.Entries[0]
	if e.ErrorCode != nil || out.FailedEntryCount > 0 {
		code := ptr(e.ErrorCode)
		if code == "" {
			code = "InternalFailure"
		}
		return entryFailed("PutEvents", code, ptr(e.ErrorMessage), id)
	}
	h := map[string]string{HeaderEventID: ptr(e.EventId)}
	if id != "" {
		h[HeaderRequestID] = id
	}
	return webhook.Result{Outcome: webhook.Delivered, Status: 200, Header: h}
}
