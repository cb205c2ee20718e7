package awsdest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook"
)

// fakeAWS is an AWS JSON-protocol endpoint on loopback that answers each
// call with the next canned answer and keeps the request bodies, by
// X-Amz-Target.
type fakeAWS struct {
	mu      sync.Mutex
	answers []fakeAnswer
	calls   map[string][]map[string]any
}

type fakeAnswer struct {
	status int
	code   string // X-Amzn-ErrorType and __type of an error answer
	body   string
}

func newFakeAWS(t *testing.T, answers ...fakeAnswer) (*fakeAWS, string) {
	f := &fakeAWS{answers: answers, calls: map[string][]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		f.mu.Lock()
		op := r.Header.Get("X-Amz-Target")
		f.calls[op] = append(f.calls[op], body)
		a := fakeAnswer{status: 500, code: "InternalFailure"}
		if len(f.answers) > 0 {
			a, f.answers = f.answers[0], f.answers[1:]
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Requestid", "req-1")
		if a.code != "" {
			w.Header().Set("X-Amzn-ErrorType", a.code)
			w.Header().Set("X-Amzn-Query-Error", a.code+";Sender")
			if a.body == "" {
				a.body = `{"__type":"` + a.code + `","message":"canned ` + a.code + `"}`
			}
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeAWS) requests(op string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func testSender() *Sender {
	return NewSender(Config{AllowLoopback: true, LoadConfig: func(context.Context) (aws.Config, error) {
		return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}, nil
	}})
}

func sqsRequest(queueURL, endpoint string) Request {
	return Request{SubscriptionID: "sub_1", ID: "msg_1", EventType: "order.placed", EntityKey: "order:1",
		Body:        []byte(`{"id":"e1","type":"order.placed","time":"2026-12-03T10:00:00Z"}`),
		Destination: &event.Destination{SQS: &event.SQSDestination{QueueURL: queueURL, EndpointURL: endpoint}}}
}

func ebRequest(endpoint string) Request {
	r := sqsRequest("", endpoint)
	r.Destination = &event.Destination{EventBridge: &event.EventBridgeDestination{EventBus: "shop", Source: "shop.surge", EndpointURL: endpoint}}
	return r
}

// TestSQSOutcomes: what an SQS answer means for the delivery, through the
// SDK's own error decoding.
func TestSQSOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		answer   fakeAnswer
		want     webhook.Outcome
		wantCode string
	}{
		{"sent", fakeAnswer{status: 200, body: `{"MessageId":"m-1","SequenceNumber":"1"}`}, webhook.Delivered, ""},
		{"throttled", fakeAnswer{status: 400, code: "ThrottlingException"}, webhook.Retry, "ThrottlingException"},
		{"request throttled", fakeAnswer{status: 400, code: "RequestThrottled"}, webhook.Retry, "RequestThrottled"},
		{"server fault", fakeAnswer{status: 500, code: "InternalError"}, webhook.Retry, "InternalError"},
		{"missing queue", fakeAnswer{status: 400, code: "AWS.SimpleQueueService.NonExistentQueue"}, webhook.Reject, "AWS.SimpleQueueService.NonExistentQueue"},
		{"access denied", fakeAnswer{status: 403, code: "AccessDenied"}, webhook.Reject, "AccessDenied"},
		{"invalid body", fakeAnswer{status: 400, code: "InvalidMessageContents"}, webhook.Reject, "InvalidMessageContents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := newFakeAWS(t, tt.answer)
			res := testSender().Send(context.Background(), sqsRequest(url+"/123456789012/orders", url))
			if res.Outcome != tt.want || ErrorCode(res.Err) != tt.wantCode {
				t.Fatalf("outcome %s, code %q (err %v); want %s, %q", res.Outcome, ErrorCode(res.Err), res.Err, tt.want, tt.wantCode)
			}
			if tt.want == webhook.Delivered && (res.Header[HeaderMessageID] != "m-1" || res.Err != nil) {
				t.Fatalf("delivered: header %v err %v", res.Header, res.Err)
			}
			if tt.wantCode != "" && res.Header[HeaderErrorCode] != tt.wantCode {
				t.Fatalf("header %v lacks the error code", res.Header)
			}
		})
	}
}

// TestSQSFIFOMessage: on a FIFO queue the group is the entity key and
// the deduplication id the webhook-id; a standard queue gets neither.
// Both carry the webhook-id, event type and entity key as attributes.
func TestSQSFIFOMessage(t *testing.T) {
	for _, queue := range []string{"orders.fifo", "orders"} {
		f, url := newFakeAWS(t, fakeAnswer{status: 200, body: `{"MessageId":"m-1"}`})
		res := testSender().Send(context.Background(), sqsRequest(url+"/123456789012/"+queue, url))
		if res.Outcome != webhook.Delivered {
			t.Fatalf("%s: %s %v", queue, res.Outcome, res.Err)
		}
		got := f.requests("AmazonSQS.SendMessage")
		if len(got) != 1 {
			t.Fatalf("%s: %d SendMessage calls", queue, len(got))
		}
		m := got[0]
		group, dedup := m["MessageGroupId"], m["MessageDeduplicationId"]
		if IsFIFO(queue) && (group != "order:1" || dedup != "msg_1") || !IsFIFO(queue) && (group != nil || dedup != nil) {
			t.Fatalf("%s: group %v dedup %v", queue, group, dedup)
		}
		attrs, _ := m["MessageAttributes"].(map[string]any)
		for name, want := range map[string]string{AttributeWebhookID: "msg_1", AttributeEventType: "order.placed", AttributeEntityKey: "order:1"} {
			a, _ := attrs[name].(map[string]any)
			if a["StringValue"] != want {
				t.Fatalf("%s: attribute %s = %v, want %s", queue, name, a, want)
			}
		}
		if m["MessageBody"] != `{"id":"e1","type":"order.placed","time":"2026-12-03T10:00:00Z"}` {
			t.Fatalf("%s: body %v", queue, m["MessageBody"])
		}
	}
}

// TestPutEventsEntries: the entry maps the delivery; an entry's own error
// in a 200 answer is classified by its code.
func TestPutEventsEntries(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     webhook.Outcome
		wantCode string
	}{
		{"put", `{"FailedEntryCount":0,"Entries":[{"EventId":"ev-1"}]}`, webhook.Delivered, ""},
		{"entry throttled", `{"FailedEntryCount":1,"Entries":[{"ErrorCode":"ThrottlingException","ErrorMessage":"slow down"}]}`, webhook.Retry, "ThrottlingException"},
		{"entry internal", `{"FailedEntryCount":1,"Entries":[{"ErrorCode":"InternalFailure"}]}`, webhook.Retry, "InternalFailure"},
		{"entry refused", `{"FailedEntryCount":1,"Entries":[{"ErrorCode":"MalformedDetail","ErrorMessage":"Detail is malformed"}]}`, webhook.Reject, "MalformedDetail"},
		{"entry access denied", `{"FailedEntryCount":1,"Entries":[{"ErrorCode":"AccessDeniedException"}]}`, webhook.Reject, "AccessDeniedException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, url := newFakeAWS(t, fakeAnswer{status: 200, body: tt.body})
			res := testSender().Send(context.Background(), ebRequest(url))
			if res.Outcome != tt.want || ErrorCode(res.Err) != tt.wantCode {
				t.Fatalf("outcome %s, code %q (err %v); want %s, %q", res.Outcome, ErrorCode(res.Err), res.Err, tt.want, tt.wantCode)
			}
			var e *Error
			if tt.wantCode != "" && (!errors.As(res.Err, &e) || !e.Entry) {
				t.Fatalf("err %v is no entry error", res.Err)
			}
			got := f.requests("AWSEvents.PutEvents")
			if len(got) != 1 {
				t.Fatalf("%d PutEvents calls", len(got))
			}
			entries, _ := got[0]["Entries"].([]any)
			if len(entries) != 1 {
				t.Fatalf("entries %v", got[0])
			}
			en := entries[0].(map[string]any)
			res0, _ := en["Resources"].([]any)
			if en["EventBusName"] != "shop" || en["Source"] != "shop.surge" || en["DetailType"] != "order.placed" ||
				!strings.Contains(en["Detail"].(string), `"id":"e1"`) || len(res0) != 1 || res0[0] != "order:1" || en["Time"] == nil {
				t.Fatalf("entry %v", en)
			}
		})
	}
}

// TestPutEventsAPIError: an error answer of the whole call.
func TestPutEventsAPIError(t *testing.T) {
	for code, want := range map[string]webhook.Outcome{
		"ThrottlingException":       webhook.Retry,
		"ResourceNotFoundException": webhook.Reject,
		"AccessDeniedException":     webhook.Reject,
		"ValidationException":       webhook.Reject,
	} {
		_, url := newFakeAWS(t, fakeAnswer{status: 400, code: code})
		res := testSender().Send(context.Background(), ebRequest(url))
		if res.Outcome != want || ErrorCode(res.Err) != code || res.Status != 400 {
			t.Fatalf("%s: outcome %s, code %q, status %d; want %s", code, res.Outcome, ErrorCode(res.Err), res.Status, want)
		}
	}
}

// TestEndpointOverrideUnderSSRFRules: an endpoint_url on loopback is
// refused unless the Sender allows loopback (surge dev) or the
// subscription allows private addresses; no byte reaches it.
func TestEndpointOverrideUnderSSRFRules(t *testing.T) {
	f, url := newFakeAWS(t, fakeAnswer{status: 200, body: `{"MessageId":"m"}`})
	strict := NewSender(Config{LoadConfig: testSender().cfg.LoadConfig})
	res := strict.Send(context.Background(), sqsRequest(url+"/123456789012/q", url))
	var ae *subscription.AddrError
	if res.Outcome != webhook.Refused || !errors.As(res.Err, &ae) || len(f.requests("AmazonSQS.SendMessage")) != 0 {
		t.Fatalf("outcome %s err %v, %d calls", res.Outcome, res.Err, len(f.requests("AmazonSQS.SendMessage")))
	}
	r := sqsRequest(url+"/123456789012/q", url)
	r.AllowPrivate = true
	if res := strict.Send(context.Background(), r); res.Outcome != webhook.Delivered {
		t.Fatalf("allow_private: %s %v", res.Outcome, res.Err)
	}
}

// TestNoRegion: without a region anywhere the delivery waits (an operator
// can set one); with one in the queue URL it needs none.
func TestNoRegion(t *testing.T) {
	s := NewSender(Config{AllowLoopback: true, LoadConfig: func(context.Context) (aws.Config, error) {
		return aws.Config{Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}, nil
	}})
	_, url := newFakeAWS(t, fakeAnswer{status: 200, body: `{"MessageId":"m"}`})
	if res := s.Send(context.Background(), sqsRequest(url+"/123456789012/q", url)); res.Outcome != webhook.Retry || !strings.Contains(res.Err.Error(), "region") {
		t.Fatalf("no region: %s %v", res.Outcome, res.Err)
	}
	if got := regionOf("https://sqs.eu-west-3.amazonaws.com/123456789012/q"); got != "eu-west-3" {
		t.Fatalf("regionOf queue URL = %q", got)
	}
	if got := regionOf("arn:aws:events:ap-south-1:123456789012:event-bus/shop"); got != "ap-south-1" {
		t.Fatalf("regionOf ARN = %q", got)
	}
}

func TestFIFOID(t *testing.T) {
	long := strings.Repeat("k", 200)
	tests := []struct {
		in   string
		same bool
	}{
		{"order:100012", true},
		{long, false},
		{"produit:été", false},
	}
	for _, tt := range tests {
		got := FIFOID(tt.in)
		if (got == tt.in) != tt.same || len(got) > maxFIFOIDLength || got != FIFOID(tt.in) {
			t.Fatalf("FIFOID(%q) = %q", tt.in, got)
		}
	}
	if FIFOID(long) == FIFOID(long+"x") {
		t.Fatal("two long ids map to one")
	}
}
