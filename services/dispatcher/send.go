package dispatcher

import (
	"context"
	"time"

	"github.com/surgehq/surge/pkg/awsdest"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook"
)

// send makes one attempt of d to the subscription's destination: a
// signed HTTP POST (webhook.Sender), or an SQS or EventBridge call
// (awsdest.Sender). Both answer a webhook.Result, so everything around
// the attempt — order, retries, parking, the breaker, the rate limit, the
// dead-letter topic and the attempt log — is one code path.
func (s *Service) send(ctx context.Context, sub event.Subscription, d *event.Delivery) webhook.Result {
	timeout := time.Duration(sub.TimeoutMS) * time.Millisecond
	if subscription.DestinationKind(sub.Destination) != subscription.DestinationHTTP {
		return s.aws.Send(ctx, awsdest.Request{
			SubscriptionID: sub.ID,
			Destination:    sub.Destination,
			AllowPrivate:   sub.AllowPrivate,
			Timeout:        timeout,
			ID:             d.ID,
			EventType:      d.EventType,
			EntityKey:      d.EntityKey,
			Body:           d.Body,
		})
	}
	return s.sender.Send(ctx, webhook.Request{
		URL:          sub.URL,
		ID:           d.ID,
		Body:         d.Body,
		Secrets:      sub.Secrets,
		Headers:      sub.Headers,
		Timeout:      timeout,
		AllowPrivate: sub.AllowPrivate,
		// The sender caches the credentials (an OAuth2 token, mTLS
		// connections) per subscription and auth config.
		SubscriptionID: sub.ID,
		Auth:           sub.Auth,
	})
}
