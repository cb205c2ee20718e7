package subscription

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
)

// Kinds of destination, as Destination.Kind names them.
const (
	DestinationHTTP        = "http"
	DestinationSQS         = "sqs"
	DestinationEventBridge = "eventbridge"
)

// DefaultEventBridgeSource is the Source of the EventBridge entries of a
// destination that sets none.
const DefaultEventBridgeSource = "surge"

// Limits of a destination.
const (
	MaxAWSFieldBytes = 256 // a region, bus name, source
	MaxRoleARNBytes  = 2048
)

// Destination is where a subscription's deliveries go, as the admin API
// takes and shows it: an HTTP POST to the subscription's url (no part
// set, kind "http"), an SQS queue or an EventBridge bus. In an Input Kind
// may be left out, and when given must name the part that is set; {} or
// {"kind":"http"} is HTTP again.
type Destination struct {
	Kind        string                  `json:"kind,omitempty"`
	SQS         *SQSDestination         `json:"sqs,omitempty"`
	EventBridge *EventBridgeDestination `json:"eventbridge,omitempty"`
}

// AWSAccess is how the dispatcher reaches an AWS destination: the region
// (empty: from the queue URL or bus ARN, else the standard AWS
// configuration), a role to assume with the dispatcher's own credentials
// (empty: those credentials) and an endpoint to call instead of AWS's
// (empty: AWS's, as the SDK resolves it).
type AWSAccess struct {
	Region      string `json:"region,omitempty"`
	RoleARN     string `json:"role_arn,omitempty"`
	EndpointURL string `json:"endpoint_url,omitempty"`
}

// SQSDestination is an SQS queue, standard or FIFO (its URL ends in
// ".fifo").
type SQSDestination struct {
	QueueURL string `json:"queue_url"`
	AWSAccess
}

// EventBridgeDestination is an EventBridge event bus, by name or ARN.
type EventBridgeDestination struct {
	EventBus string `json:"event_bus"`
	Source   string `json:"source,omitempty"`
	AWSAccess
}

// DestinationKind names the kind of d: "http" for nil or no part set.
// With more than one part set (which Validate refuses) it names the
// first.
func DestinationKind(d *event.Destination) string {
	switch {
	case d == nil:
		return DestinationHTTP
	case d.SQS != nil:
		return DestinationSQS
	case d.EventBridge != nil:
		return DestinationEventBridge
	}
	return DestinationHTTP
}

// Target says where a subscription's deliveries go, for attempt logs and
// messages: its url for HTTP, the queue URL for SQS, "eventbridge:" and
// the bus for EventBridge.
func Target(s event.Subscription) string {
	switch d := s.Destination; DestinationKind(d) {
	case DestinationSQS:
		return d.SQS.QueueURL
	case DestinationEventBridge:
		return "eventbridge:" + d.EventBridge.EventBus
	}
	return s.URL
}

// NewDestinationView is the API form of a stored destination; nil for
// HTTP, so a view of an HTTP subscription is what it was before
// destinations existed.
func NewDestinationView(d *event.Destination) *Destination {
	switch DestinationKind(d) {
	case DestinationSQS:
		q := d.SQS
		return &Destination{Kind: DestinationSQS, SQS: &SQSDestination{QueueURL: q.QueueURL,
			AWSAccess: AWSAccess{Region: q.Region, RoleARN: q.RoleARN, EndpointURL: q.EndpointURL}}}
	case DestinationEventBridge:
		b := d.EventBridge
		return &Destination{Kind: DestinationEventBridge, EventBridge: &EventBridgeDestination{EventBus: b.EventBus, Source: b.Source,
			AWSAccess: AWSAccess{Region: b.Region, RoleARN: b.RoleARN, EndpointURL: b.EndpointURL}}}
	}
	return nil
}

// storedDestination is the stored form of in; nil (HTTP) when it sets no
// part.
func storedDestination(in *Destination) *event.Destination {
	if in.SQS == nil && in.EventBridge == nil {
		return nil
	}
	out := &event.Destination{}
	if q := in.SQS; q != nil {
		out.SQS = &event.SQSDestination{QueueURL: q.QueueURL, Region: q.Region, RoleARN: q.RoleARN, EndpointURL: q.EndpointURL}
	}
	if b := in.EventBridge; b != nil {
		out.EventBridge = &event.EventBridgeDestination{EventBus: b.EventBus, Source: b.Source, Region: b.Region, RoleARN: b.RoleARN, EndpointURL: b.EndpointURL}
	}
	return out
}

// cloneDestination is a deep copy of d.
func cloneDestination(d *event.Destination) *event.Destination {
	if d == nil {
		return nil
	}
	out := &event.Destination{}
	if d.SQS != nil {
		q := *d.SQS
		out.SQS = &q
	}
	if d.EventBridge != nil {
		b := *d.EventBridge
		out.EventBridge = &b
	}
	return out
}

// CheckDestination checks what of the destination in the body Validate
// cannot see in the stored form: a kind that names another part than the
// one set. The error is a *catalog.FieldError on "destination.kind", or
// nil.
func (in Input) CheckDestination() error {
	if in.Destination == nil || in.Destination.Kind == "" {
		return nil
	}
	set := ""
	switch {
	case in.Destination.SQS != nil:
		set = DestinationSQS
	case in.Destination.EventBridge != nil:
		set = DestinationEventBridge
	}
	switch k := in.Destination.Kind; {
	case k != DestinationHTTP && k != DestinationSQS && k != DestinationEventBridge:
		return &catalog.FieldError{Field: "destination.kind", Message: fmt.Sprintf("%q is not a kind of destination: give http, sqs or eventbridge", k)}
	case k == DestinationHTTP && set != "":
		return &catalog.FieldError{Field: "destination.kind", Message: fmt.Sprintf("is \"http\" but the destination sets %s; leave kind out or make them agree", set)}
	case k != DestinationHTTP && set == "":
		return &catalog.FieldError{Field: "destination.kind", Message: fmt.Sprintf("is %q but the destination sets no part; give destination.%s", k, k)}
	case k != DestinationHTTP && set != k:
		return &catalog.FieldError{Field: "destination.kind", Message: fmt.Sprintf("is %q but the destination sets %s; leave kind out or make them agree", k, set)}
	}
	return nil
}

var (
	// A region as AWS names them: us-east-1, eu-central-2, us-gov-west-1.
	regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	// An event bus name (EventBridge's own rule) or an event bus ARN.
	busNameRE = regexp.MustCompile(`^[/.\-_A-Za-z0-9]{1,256}$`)
	busARNRE  = regexp.MustCompile(`^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[/.\-_A-Za-z0-9]{1,256}$`)
	roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
)

// checkDestination applies the rules of a destination: at most one part;
// an http(s) queue URL with an account and a queue name; a bus name or
// ARN; a source EventBridge takes; a region and role ARN in AWS's form;
// an endpoint URL under the same URL and SSRF rules as url. An AWS
// destination sends no HTTP request of Surge's own, so url, headers and
// auth must be empty.
func (v Validator) checkDestination(ctx context.Context, s event.Subscription) []error {
	d := s.Destination
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &catalog.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if d == nil || d.SQS == nil && d.EventBridge == nil {
		return nil
	}
	if d.SQS != nil && d.EventBridge != nil {
		add("destination", "sets sqs and eventbridge; set exactly one")
		return errs
	}
	kind := DestinationKind(d)
	if s.URL != "" {
		add("url", "must be empty for an %s destination, which says where deliveries go", kind)
	}
	if len(s.Headers) > 0 {
		add("headers", "must be empty for an %s destination: there is no HTTP request to carry them", kind)
	}
	if AuthKind(s.Auth) != "" {
		add("auth", "must be empty for an %s destination: AWS calls are signed with the dispatcher's AWS credentials (role_arn picks a role)", kind)
	}
	var access AWSAccess
	prefix := "destination." + kind
	if q := d.SQS; q != nil {
		access = AWSAccess{Region: q.Region, RoleARN: q.RoleARN, EndpointURL: q.EndpointURL}
		if err := checkQueueURL(q.QueueURL); err != nil {
			add(prefix+".queue_url", "%s", err.Error())
		}
	}
	if b := d.EventBridge; b != nil {
		access = AWSAccess{Region: b.Region, RoleARN: b.RoleARN, EndpointURL: b.EndpointURL}
		switch {
		case b.EventBus == "":
			add(prefix+".event_bus", "is required: the event bus name (\"default\" is the account's default bus) or ARN")
		case strings.HasPrefix(b.EventBus, "arn:"):
			if !busARNRE.MatchString(b.EventBus) {
				add(prefix+".event_bus", "%q is not an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)", b.EventBus)
			}
		case !busNameRE.MatchString(b.EventBus):
			add(prefix+".event_bus", "%q is not an event bus name: 1 to 256 of letters, digits and . - _ /", b.EventBus)
		}
		switch {
		case len(b.Source) > MaxAWSFieldBytes:
			add(prefix+".source", "is %d bytes; at most %d are allowed", len(b.Source), MaxAWSFieldBytes)
		case strings.HasPrefix(strings.ToLower(b.Source), "aws."):
			add(prefix+".source", "%q starts with \"aws.\", which EventBridge keeps for AWS services", b.Source)
		case strings.ContainsFunc(b.Source, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
			add(prefix+".source", "%q contains spaces or characters outside printable ASCII", b.Source)
		}
	}
	if access.Region != "" && (len(access.Region) > MaxAWSFieldBytes || !regionRE.MatchString(access.Region)) {
		add(prefix+".region", "%q is not an AWS region such as us-east-1", access.Region)
	}
	if access.RoleARN != "" && (len(access.RoleARN) > MaxRoleARNBytes || !roleARNRE.MatchString(access.RoleARN)) {
		add(prefix+".role_arn", "%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", access.RoleARN)
	}
	if access.EndpointURL != "" {
		if err := v.checkURL(ctx, access.EndpointURL, s.AllowPrivate); err != nil {
			add(prefix+".endpoint_url", "%s", err.Error())
		}
	}
	return errs
}

// checkQueueURL checks the form of an SQS queue URL: http(s), a host, and
// a path of the account id and the queue name.
func checkQueueURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("is required: the queue URL, https://sqs.<region>.amazonaws.com/<account>/<name>")
	}
	if len(raw) > MaxURLLength {
		return fmt.Errorf("is %d characters; at most %d are allowed", len(raw), MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an http(s) queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo", raw)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q does not end in /<account>/<queue name>", raw)
	}
	return nil
}
