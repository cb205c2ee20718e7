package main

import (
	"strings"
	"testing"
)

// TestSubsDestinationFlags: `surge subs create --destination sqs|eventbridge`
// stores the destination the flags describe and prints it; an update
// with --destination http turns the subscription back to HTTP.
func TestSubsDestinationFlags(t *testing.T) {
	e := newSubsEnv(t)
	const queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"
	out := e.mustRun("create", "--event-type", "order.*", "--destination", "sqs", "--queue-url", queue,
		"--aws-role-arn", "arn:aws:iam::123456789012:role/surge-writer")
	id := subIDRE.FindString(out)
	s := e.stored(id)
	if s.URL != "" || s.Destination == nil || s.Destination.SQS == nil || s.Destination.SQS.QueueURL != queue ||
		s.Destination.SQS.RoleARN != "arn:aws:iam::123456789012:role/surge-writer" || s.Destination.EventBridge != nil {
		t.Fatalf("stored %+v / %+v", s, s.Destination)
	}
	if !strings.Contains(out, "sqs "+queue) || !strings.Contains(out, "role arn:aws:iam::123456789012:role/surge-writer") {
		t.Fatalf("create printed:\n%s", out)
	}

	e.mustRun("update", id, "--destination", "eventbridge", "--event-bus", "shop", "--event-source", "shop.surge", "--aws-region", "eu-west-1")
	s = e.stored(id)
	if s.Destination == nil || s.Destination.SQS != nil || s.Destination.EventBridge == nil ||
		s.Destination.EventBridge.EventBus != "shop" || s.Destination.EventBridge.Source != "shop.surge" || s.Destination.EventBridge.Region != "eu-west-1" {
		t.Fatalf("after update: %+v", s.Destination)
	}
	if out := e.mustRun("get", id); !strings.Contains(out, "eventbridge bus shop, source shop.surge, region eu-west-1") {
		t.Fatalf("get printed:\n%s", out)
	}

	e.mustRun("update", id, "--destination", "http", "--url", "https://erp.example.com/hooks")
	s = e.stored(id)
	if s.Destination != nil || s.URL != "https://erp.example.com/hooks" {
		t.Fatalf("back to http: %+v %q", s.Destination, s.URL)
	}
	if _, _, err := e.run("update", id, "--destination", "http", "--queue-url", queue); err == nil {
		t.Fatal("--destination http with --queue-url was taken")
	}
}
