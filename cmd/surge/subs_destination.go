package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/surgehq/surge/pkg/subscription"
)

// destinationFlags are the create/update flags of a subscription's
// destination. They build the body's "destination" object, which replaces
// the stored destination whole: --destination http alone turns a
// subscription back to HTTP.
type destinationFlags struct {
	Kind        string
	QueueURL    string
	EventBus    string
	Source      string
	Region      string
	RoleARN     string
	EndpointURL string
}

var (
	awsDestinationFlags = []string{"queue-url", "event-bus", "event-source", "aws-region", "aws-role-arn", "aws-endpoint-url"}
	// destinationFlagNames are every destination flag, for "nothing to
	// update".
	destinationFlagNames = append([]string{"destination"}, awsDestinationFlags...)
)

func (f *destinationFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Kind, "destination", "", "where deliveries go: http (POST to --url, the default), sqs (--queue-url) or eventbridge (--event-bus)")
	fs.StringVar(&f.QueueURL, "queue-url", "", "sqs: the queue URL; a FIFO queue (name ending in .fifo) is grouped by entity key and deduplicated by webhook-id")
	fs.StringVar(&f.EventBus, "event-bus", "", "eventbridge: the event bus name or ARN")
	fs.StringVar(&f.Source, "event-source", "", "eventbridge: the entries' Source (default \"surge\")")
	fs.StringVar(&f.Region, "aws-region", "", "sqs, eventbridge: the AWS region (default: from the queue URL or bus ARN, else the dispatcher's AWS configuration)")
	fs.StringVar(&f.RoleARN, "aws-role-arn", "", "sqs, eventbridge: an IAM role the dispatcher assumes for this subscription")
	fs.StringVar(&f.EndpointURL, "aws-endpoint-url", "", "sqs, eventbridge: call this endpoint instead of AWS's (an emulator; SSRF rules as for --url)")
}

// body is the "destination" object of the flags given, or nil when none
// is.
func (f *destinationFlags) body(fs *pflag.FlagSet) (map[string]any, error) {
	aws := false
	for _, n := range awsDestinationFlags {
		aws = aws || fs.Changed(n)
	}
	if !fs.Changed("destination") {
		if aws {
			return nil, errors.New("--queue-url, --event-bus and --aws-* need --destination sqs or --destination eventbridge")
		}
		return nil, nil
	}
	access := map[string]any{}
	for _, p := range []struct{ flag, value, field string }{
		{"aws-region", f.Region, "region"}, {"aws-role-arn", f.RoleARN, "role_arn"}, {"aws-endpoint-url", f.EndpointURL, "endpoint_url"},
	} {
		if fs.Changed(p.flag) {
			access[p.field] = p.value
		}
	}
	switch f.Kind {
	case subscription.DestinationHTTP:
		if aws {
			return nil, errors.New("--destination http takes no --queue-url, --event-bus or --aws-* flag")
		}
		return map[string]any{}, nil
	case subscription.DestinationSQS:
		if fs.Changed("event-bus") || fs.Changed("event-source") {
			return nil, errors.New("--destination sqs takes --queue-url, not --event-bus or --event-source")
		}
		access["queue_url"] = f.QueueURL
		return map[string]any{"kind": f.Kind, "sqs": access}, nil
	case subscription.DestinationEventBridge:
		if fs.Changed("queue-url") {
			return nil, errors.New("--destination eventbridge takes --event-bus, not --queue-url")
		}
		access["event_bus"] = f.EventBus
		if fs.Changed("event-source") {
			access["source"] = f.Source
		}
		return map[string]any{"kind": f.Kind, "eventbridge": access}, nil
	}
	return nil, fmt.Errorf("--destination %q: give http, sqs or eventbridge", f.Kind)
}

// destinationText is the DESTINATION row of the table.
func destinationText(d *subscription.Destination) string {
	switch {
	case d == nil:
		return "http"
	case d.SQS != nil:
		s := "sqs " + d.SQS.QueueURL
		return s + awsAccessText(d.SQS.AWSAccess)
	case d.EventBridge != nil:
		src := d.EventBridge.Source
		if src == "" {
			src = subscription.DefaultEventBridgeSource
		}
		return "eventbridge bus " + d.EventBridge.EventBus + ", source " + src + awsAccessText(d.EventBridge.AWSAccess)
	}
	return d.Kind
}

func awsAccessText(a subscription.AWSAccess) string {
	s := ""
	if a.Region != "" {
		s += ", region " + a.Region
	}
	if a.RoleARN != "" {
		s += ", role " + a.RoleARN
	}
	if a.EndpointURL != "" {
		s += ", endpoint " + a.EndpointURL
	}
	return s
}
