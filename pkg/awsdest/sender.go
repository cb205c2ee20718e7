// Package awsdest delivers to the AWS destinations of a subscription: an
// SQS queue (SendMessage; on a FIFO queue the entity key is the message
// group and the webhook-id the deduplication id) and an EventBridge event
// bus (PutEvents with one entry). It answers each attempt with the same
// webhook.Result the HTTP Sender gives, so the dispatcher keeps one path
// for ordering, retries, parking, the circuit breaker, the rate limit,
// the dead-letter topic and the attempt log.
//
// Credentials come from the standard AWS chain (environment, shared
// config and credentials files, web identity, container and instance
// roles), optionally exchanged per subscription for a role through STS
// AssumeRole. The SDK's own retries are off: a throttled or failed call
// is a Retry outcome, and the dispatcher's schedule backs off.
package awsdest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook"
)

// DefaultTimeout bounds one AWS call when neither the request nor the
// Config sets a timeout.
const DefaultTimeout = 10 * time.Second

// Config configures a Sender. Zero values mean the defaults.
type Config struct {
	// DefaultTimeout bounds one call when the Request sets no Timeout;
	// DefaultTimeout.
	DefaultTimeout time.Duration
	// AllowLoopback lets a destination's endpoint_url reach loopback
	// addresses, as `surge dev` and tests need; other private ranges need
	// the subscription's allow_private.
	AllowLoopback bool
	// LoadConfig loads the base AWS configuration, the standard chain;
	// config.LoadDefaultConfig when nil. It is called on the first
	// delivery to an AWS destination, and again after it failed.
	LoadConfig func(context.Context) (aws.Config, error)
}

// Request is one delivery attempt to an AWS destination.
type Request struct {
	// SubscriptionID names the subscription whose clients (and assumed
	// role credentials) the Sender caches.
	SubscriptionID string
	// Destination is the subscription's; an SQS or EventBridge part must
	// be set.
	Destination *event.Destination
	// AllowPrivate lets the destination's endpoint_url resolve to private
	// addresses (the subscription's allow_private).
	AllowPrivate bool
	// Timeout bounds the call; Config.DefaultTimeout when zero.
	Timeout time.Duration
	// ID is the webhook-id: a message attribute, and a FIFO queue's
	// deduplication id.
	ID string
	// EventType is the EventBridge DetailType and a message attribute.
	EventType string
	// EntityKey is a FIFO queue's message group, the EventBridge entry's
	// resource and a message attribute.
	EntityKey string
	// Body is the webhook body: the SQS message body, the EventBridge
	// Detail.
	Body []byte
}

// Sender makes the AWS calls of deliveries. It is safe for concurrent
// use; a call blocks for at most the request's timeout.
type Sender struct {
	cfg     Config
	clients *clientCache
}

// NewSender returns a Sender with cfg's zero fields set to the defaults.
func NewSender(cfg Config) *Sender {
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = DefaultTimeout
	}
	if cfg.LoadConfig == nil {
		cfg.LoadConfig = func(ctx context.Context) (aws.Config, error) { return config.LoadDefaultConfig(ctx) }
	}
	return &Sender{cfg: cfg, clients: newClientCache(cfg)}
}

// CloseIdleConnections closes the keep-alive connections not in use.
func (s *Sender) CloseIdleConnections() { s.clients.closeIdle() }

// Send makes one attempt and classifies the answer as the HTTP Sender
// does: Delivered; Retry for throttling, AWS server faults, network
// errors, timeouts and missing credentials; Reject for an error that can
// never succeed (validation, a missing queue or bus, access denied), its
// Err an *Error with the AWS error code; Refused when the SSRF rules
// refused the endpoint_url's address. It never panics on a bad request.
func (s *Sender) Send(ctx context.Context, r Request) webhook.Result {
	start := time.Now()
	res := s.send(ctx, r)
	res.Duration = time.Since(start)
	return res
}

func (s *Sender) send(ctx context.Context, r Request) webhook.Result {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = s.cfg.DefaultTimeout
	}
	reqCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	kind := subscription.DestinationKind(r.Destination)
	if kind == subscription.DestinationHTTP {
		return webhook.Result{Outcome: webhook.Reject, Err: errors.New("the subscription has no AWS destination")}
	}
	c, err := s.clients.get(reqCtx, r)
	if err != nil {
		return failed(ctx, reqCtx, timeout, err)
	}
	switch kind {
	case subscription.DestinationSQS:
		return c.sendSQS(ctx, reqCtx, timeout, r)
	default:
		return c.putEvent(ctx, reqCtx, timeout, r)
	}
}

// eventTime is the "time" of a webhook body; zero when it has none.
func eventTime(body []byte) time.Time {
	var v struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal(body, &v) != nil {
		return time.Time{}
	}
	return v.Time
}

// regionOf is the region of a queue URL's host
// (sqs.<region>.amazonaws.com, <region>.queue.amazonaws.com) or of an ARN;
// "" when it names none.
func regionOf(queueURLOrARN string) string {
	if rest, ok := strings.CutPrefix(queueURLOrARN, "arn:"); ok {
		parts := strings.Split(rest, ":")
		if len(parts) >= 4 {
			return parts[2]
		}
		return ""
	}
	host := queueURLOrARN
	if _, after, ok := strings.Cut(host, "://"); ok {
		host = after
	}
	host, _, _ = strings.Cut(host, "/")
	labels := strings.Split(host, ".")
	switch {
	case len(labels) >= 4 && labels[0] == "sqs":
		return labels[1]
	case len(labels) >= 4 && labels[1] == "queue":
		return labels[0]
	}
	return ""
}

// describeTarget is what an error says the destination was.
func describeTarget(r Request) string {
	return fmt.Sprintf("%s destination %s", subscription.DestinationKind(r.Destination), subscription.Target(event.Subscription{Destination: r.Destination}))
}
