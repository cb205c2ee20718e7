package subscription

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/event"
)

func awsSub(d *event.Destination) event.Subscription {
	s := validSub()
	s.URL, s.Headers, s.Destination = "", nil, d
	return s
}

func sqsDest(q event.SQSDestination) *event.Destination { return &event.Destination{SQS: &q} }
func ebDest(b event.EventBridgeDestination) *event.Destination {
	return &event.Destination{EventBridge: &b}
}

const testQueue = "https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo"

func TestValidateDestination(t *testing.T) {
	tests := []struct {
		name      string
		in        event.Subscription
		wantField string // "" for valid
	}{
		{"sqs", awsSub(sqsDest(event.SQSDestination{QueueURL: testQueue})), ""},
		{"sqs with everything", awsSub(sqsDest(event.SQSDestination{QueueURL: testQueue, Region: "eu-west-1",
			RoleARN: "arn:aws:iam::123456789012:role/surge-writer", EndpointURL: "https://hooks.example.com"})), ""},
		{"eventbridge", awsSub(ebDest(event.EventBridgeDestination{EventBus: "default"})), ""},
		{"eventbridge arn", awsSub(ebDest(event.EventBridgeDestination{EventBus: "arn:aws:events:us-east-1:123456789012:event-bus/shop", Source: "shop.orders"})), ""},
		{"no queue url", awsSub(sqsDest(event.SQSDestination{})), "destination.sqs.queue_url"},
		{"queue url without name", awsSub(sqsDest(event.SQSDestination{QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012"})), "destination.sqs.queue_url"},
		{"queue url not http", awsSub(sqsDest(event.SQSDestination{QueueURL: "sqs://x/1/q"})), "destination.sqs.queue_url"},
		{"bad region", awsSub(sqsDest(event.SQSDestination{QueueURL: testQueue, Region: "Mars"})), "destination.sqs.region"},
		{"bad role", awsSub(sqsDest(event.SQSDestination{QueueURL: testQueue, RoleARN: "surge-writer"})), "destination.sqs.role_arn"},
		{"endpoint private", awsSub(sqsDest(event.SQSDestination{QueueURL: testQueue, EndpointURL: "http://internal.example.com:4566"})), "destination.sqs.endpoint_url"},
		{"endpoint metadata", awsSub(ebDest(event.EventBridgeDestination{EventBus: "b", EndpointURL: "http://169.254.169.254"})), "destination.eventbridge.endpoint_url"},
		{"no bus", awsSub(ebDest(event.EventBridgeDestination{})), "destination.eventbridge.event_bus"},
		{"bad bus", awsSub(ebDest(event.EventBridgeDestination{EventBus: "my bus"})), "destination.eventbridge.event_bus"},
		{"aws source", awsSub(ebDest(event.EventBridgeDestination{EventBus: "b", Source: "aws.orders"})), "destination.eventbridge.source"},
		{"both", awsSub(&event.Destination{SQS: &event.SQSDestination{QueueURL: testQueue}, EventBridge: &event.EventBridgeDestination{EventBus: "b"}}), "destination"},
		{"url too", func() event.Subscription {
			s := awsSub(ebDest(event.EventBridgeDestination{EventBus: "b"}))
			s.URL = "https://hooks.example.com"
			return s
		}(), "url"},
		{"headers too", func() event.Subscription {
			s := awsSub(ebDest(event.EventBridgeDestination{EventBus: "b"}))
			s.Headers = map[string]string{"X-A": "1"}
			return s
		}(), "headers"},
		{"auth too", func() event.Subscription {
			s := awsSub(sqsDest(event.SQSDestination{QueueURL: testQueue}))
			s.Auth = &event.EndpointAuth{Basic: &event.BasicAuth{Username: "u", Password: "p"}}
			return s
		}(), "auth"},
		{"http without url", func() event.Subscription { s := validSub(); s.URL = ""; return s }(), "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := fieldErrors(t, Validator{Resolver: testResolver}.Validate(context.Background(), tt.in))
			if tt.wantField == "" {
				if len(errs) != 0 {
					t.Fatalf("want valid, got %v", errs)
				}
				return
			}
			if _, ok := errs[tt.wantField]; !ok || len(errs) != 1 {
				t.Fatalf("want an error on %s alone, got %v", tt.wantField, errs)
			}
		})
	}
}

// TestDestinationThroughTheAPIForm: an Input's destination is stored, shown
// again in a View, and {} turns the subscription back to HTTP; a kind that
// disagrees with the part set is refused.
func TestDestinationThroughTheAPIForm(t *testing.T) {
	var in Input
	if err := json.Unmarshal([]byte(`{"event_types":["*"],"destination":{"kind":"sqs","sqs":{"queue_url":"`+testQueue+`","role_arn":"arn:aws:iam::123456789012:role/r"}}}`), &in); err != nil {
		t.Fatal(err)
	}
	if m := in.Missing(); len(m) != 0 || in.CheckDestination() != nil {
		t.Fatalf("missing %v, check %v", m, in.CheckDestination())
	}
	s := NewSubscription("sub_1", in, time.Unix(0, 0))
	if s.Destination == nil || s.Destination.SQS == nil || s.Destination.SQS.QueueURL != testQueue || s.Destination.SQS.RoleARN == "" {
		t.Fatalf("stored %+v", s.Destination)
	}
	v := NewView(s)
	if v.Destination == nil || v.Destination.Kind != DestinationSQS || v.Destination.SQS.QueueURL != testQueue || Target(s) != testQueue {
		t.Fatalf("view %+v", v.Destination)
	}
	c := Clone(s)
	c.Destination.SQS.QueueURL = "changed"
	if s.Destination.SQS.QueueURL != testQueue {
		t.Fatal("Clone shares the destination")
	}
	var back Input
	_ = json.Unmarshal([]byte(`{"url":"https://hooks.example.com/x","destination":{}}`), &back)
	back.Apply(&s, time.Unix(1, 0))
	if DestinationKind(s.Destination) != DestinationHTTP || NewView(s).Destination != nil {
		t.Fatalf("{} left %+v", s.Destination)
	}

	for body, want := range map[string]string{
		`{"kind":"eventbridge","sqs":{"queue_url":"q"}}`: "destination.kind",
		`{"kind":"http","sqs":{"queue_url":"q"}}`:        "destination.kind",
		`{"kind":"sqs"}`:   "destination.kind",
		`{"kind":"kafka"}`: "destination.kind",
	} {
		var in Input
		if err := json.Unmarshal([]byte(`{"destination":`+body+`}`), &in); err != nil {
			t.Fatal(err)
		}
		errs := fieldErrors(t, in.CheckDestination())
		if _, ok := errs[want]; !ok {
			t.Fatalf("%s: errors %v, want one on %s", body, errs, want)
		}
	}
	var noURL Input
	_ = json.Unmarshal([]byte(`{"event_types":["*"]}`), &noURL)
	if !slices.Contains(noURL.Missing(), "url") {
		t.Fatal("an HTTP subscription without url is not refused")
	}
	if !strings.HasPrefix(Target(event.Subscription{Destination: ebDest(event.EventBridgeDestination{EventBus: "b"})}), "eventbridge:") {
		t.Fatal("Target of a bus")
	}
}
