package awsdest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/surgehq/surge/pkg/subscription"
)

// RoleSessionName names the STS sessions of assumed roles (CloudTrail
// shows it).
const RoleSessionName = "surge-dispatcher"

// access is what a client is built for: one subscription's destination
// kind, region, role and endpoint, and whether its endpoint may be
// private.
type access struct {
	kind, region, roleARN, endpoint string
	allowPrivate                    bool
}

func accessOf(r Request) access {
	a := access{kind: subscription.DestinationKind(r.Destination), allowPrivate: r.AllowPrivate}
	switch d := r.Destination; a.kind {
	case subscription.DestinationSQS:
		a.region, a.roleARN, a.endpoint = d.SQS.Region, d.SQS.RoleARN, d.SQS.EndpointURL
		if a.region == "" {
			a.region = regionOf(d.SQS.QueueURL)
		}
	case subscription.DestinationEventBridge:
		a.region, a.roleARN, a.endpoint = d.EventBridge.Region, d.EventBridge.RoleARN, d.EventBridge.EndpointURL
		if a.region == "" {
			a.region = regionOf(d.EventBridge.EventBus)
		}
	}
	return a
}

// client is the SDK client of one subscription's destination.
type client struct {
	access access
	sqs    *sqs.Client
	events *eventbridge.Client
}

// clientCache keeps a client per subscription, built again when its
// destination changes. The base configuration is loaded once, on first
// use.
type clientCache struct {
	cfg Config
	// Endpoint overrides of subscriptions are dialled under the SSRF
	// rules; AWS's own endpoints (and an operator's AWS_ENDPOINT_URL)
	// are not: they are the operator's configuration.
	plain           *awshttp.BuildableClient
	strict, private *http.Client

	mu      sync.Mutex
	base    *aws.Config
	clients map[string]*client
}

func newClientCache(cfg Config) *clientCache {
	return &clientCache{
		cfg:     cfg,
		plain:   awshttp.NewBuildableClient(),
		strict:  guardedClient(false, cfg.AllowLoopback),
		private: guardedClient(true, cfg.AllowLoopback),
		clients: map[string]*client{},
	}
}

// guardedClient is an HTTP client whose every dialled address passes the
// SSRF rules, with no proxy and no redirects followed.
func guardedClient(allowPrivate, allowLoopback bool) *http.Client {
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   subscription.DialControl(allowPrivate, allowLoopback),
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (c *clientCache) closeIdle() {
	c.strict.CloseIdleConnections()
	c.private.CloseIdleConnections()
}

// get is the client of r's subscription and destination.
func (c *clientCache) get(ctx context.Context, r Request) (*client, error) {
	a := accessOf(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[r.SubscriptionID]; ok && cl.access == a {
		return cl, nil
	}
	if c.base == nil {
		// Under the lock, so one delivery loads it and the others wait;
		// the call reads files and the environment, nothing remote.
		base, err := c.cfg.LoadConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("loading the AWS configuration: %w", err)
		}
		c.base = &base
	}
	cfg := c.base.Copy()
	if a.region != "" {
		cfg.Region = a.region
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set the destination's region, or AWS_REGION for the dispatcher")
	}
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	cfg.HTTPClient = c.plain
	if a.endpoint != "" {
		cfg.HTTPClient = c.strict
		if a.allowPrivate {
			cfg.HTTPClient = c.private
		}
	}
	if a.roleARN != "" {
		stsClient := sts.NewFromConfig(cfg, func(o *sts.Options) {
			if a.endpoint != "" {
				o.BaseEndpoint = aws.String(a.endpoint)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, a.roleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = RoleSessionName
			o.Duration = time.Hour
		}))
	}
	cl := &client{access: a}
	switch a.kind {
	case subscription.DestinationSQS:
		cl.sqs = sqs.NewFromConfig(cfg, func(o *sqs.Options) {
			if a.endpoint != "" {
				o.BaseEndpoint = aws.String(a.endpoint)
			}
		})
	case subscription.DestinationEventBridge:
		cl.events = eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
			if a.endpoint != "" {
				o.BaseEndpoint = aws.String(a.endpoint)
			}
		})
	}
	c.clients[r.SubscriptionID] = cl
	return cl, nil
}
