package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/segmentio/ksuid"

	"github.com/surgehq/surge/pkg/awsdest"
)

// The AWS emulator (moto in server mode) of the AWS destination tests:
// scripts/moto.sh starts it and `make test-aws` sets SURGE_AWS_ENDPOINT
// to its loopback URL. Without it the tests skip.

// awsRegion is the region the tests name; moto takes any.
const awsRegion = "us-east-1"

// awsEmulator is the emulator's URL and SDK clients to set it up and read
// what arrived.
type awsEmulator struct {
	URL    string
	SQS    *sqs.Client
	Events *eventbridge.Client
}

// needAWSEmulator skips the test unless SURGE_AWS_ENDPOINT names a
// loopback emulator, and gives the dispatcher of the test's `surge dev`
// static test credentials through the standard chain (environment).
func needAWSEmulator(t *testing.T) *awsEmulator {
	t.Helper()
	raw := os.Getenv("SURGE_AWS_ENDPOINT")
	if raw == "" {
		t.Skip("SURGE_AWS_ENDPOINT is not set: `make test-aws` starts the AWS emulator (moto, scripts/moto.sh) and runs these tests")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1") {
		t.Fatalf("SURGE_AWS_ENDPOINT=%q must be a loopback http URL", raw)
	}
	// The standard chain reads these; nothing reaches AWS, and the
	// instance metadata service is never asked.
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", awsRegion)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	cfg := aws.Config{
		Region:      awsRegion,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	}
	return &awsEmulator{
		URL:    raw,
		SQS:    sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(raw) }),
		Events: eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(raw) }),
	}
}

// uniqueName is a queue or bus name no other test run uses.
func uniqueName(prefix string) string { return prefix + "-" + strings.ToLower(ksuid.New().String()) }

// createQueue creates a queue (FIFO when name ends in .fifo, without
// content-based deduplication: Surge sends the ids) and returns its URL
// and ARN.
func (e *awsEmulator) createQueue(t *testing.T, name string) (queueURL, arn string) {
	t.Helper()
	ctx := context.Background()
	attrs := map[string]string{}
	if awsdest.IsFIFO(name) {
		attrs["FifoQueue"] = "true"
		attrs["ContentBasedDeduplication"] = "false"
	}
	out, err := e.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("creating queue %s: %v", name, err)
	}
	// moto answers slower the more it holds: leave nothing behind.
	t.Cleanup(func() { _, _ = e.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	got, err := e.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("reading queue %s: %v", name, err)
	}
	return *out.QueueUrl, got.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

// sqsMessage is one message read from a queue.
type sqsMessage struct {
	Body       string
	Attributes map[string]string // message attributes (webhook-id, ...)
	GroupID    string            // MessageGroupId on a FIFO queue
}

// queueReader reads a queue in the background, in the order the queue
// answers, deleting what it read, until the test ends.
type queueReader struct {
	mu   sync.Mutex
	msgs []sqsMessage
	errs atomic.Int64
}

func (e *awsEmulator) readQueue(t *testing.T, queueURL string) *queueReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	qr := &queueReader{}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			out, err := e.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
				QueueUrl:            aws.String(queueURL),
				MaxNumberOfMessages: 10,
				// Short polls: moto's long poll waits out its time
				// unless ten messages can be answered.
				WaitTimeSeconds:             0,
				MessageAttributeNames:       []string{"All"},
				MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameMessageGroupId},
			})
			if err != nil {
				if ctx.Err() == nil {
					qr.errs.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
				continue
			}
			if len(out.Messages) == 0 {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			var del []sqstypes.DeleteMessageBatchRequestEntry
			qr.mu.Lock()
			for i, m := range out.Messages {
				msg := sqsMessage{Body: aws.ToString(m.Body), Attributes: map[string]string{},
					GroupID: m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]}
				for k, v := range m.MessageAttributes {
					msg.Attributes[k] = aws.ToString(v.StringValue)
				}
				qr.msgs = append(qr.msgs, msg)
				del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
			}
			qr.mu.Unlock()
			if len(del) > 0 {
				if _, err := e.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: del}); err != nil && ctx.Err() == nil {
					qr.errs.Add(1)
				}
			}
		}
	}()
	return qr
}

// messages is a copy of what was read so far, in order.
func (qr *queueReader) messages() []sqsMessage {
	qr.mu.Lock()
	defer qr.mu.Unlock()
	return append([]sqsMessage(nil), qr.msgs...)
}

// waitFor waits until n messages were read, and fails the test with how
// many were (and how many reads failed) when they are not within timeout.
func (qr *queueReader) waitFor(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	deadline, report := start.Add(timeout), start.Add(15*time.Second)
	for qr.count() < n {
		if now := time.Now(); now.After(report) {
			t.Logf("%s: %d of %d messages read", now.Sub(start).Round(time.Second), qr.count(), n)
			report = now.Add(15 * time.Second)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s with %d of %d messages read (%d failed reads)", timeout, qr.count(), n, qr.errs.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (qr *queueReader) count() int {
	qr.mu.Lock()
	defer qr.mu.Unlock()
	return len(qr.msgs)
}

// entityKey is the entity key of a delivered body.
func entityKey(b webhookBody) string { return b.Entity.Type + ":" + b.Entity.ID }

// throttlingProxy forwards to the emulator, but answers the first
// `throttle` calls of the AWS operation op (its X-Amz-Target, e.g.
// "AmazonSQS.SendMessage") with a ThrottlingException, as AWS does
// when a caller goes over its rate.
type throttlingProxy struct {
	URL                  string
	throttled, forwarded atomic.Int64
}

func newThrottlingProxy(t *testing.T, target, op string, throttle int64) *throttlingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &throttlingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == op {
			if p.throttled.Add(1) <= throttle {
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
				w.Header().Set("X-Amzn-Query-Error", "ThrottlingException;Sender")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
				return
			}
			p.throttled.Add(-1)
			p.forwarded.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}
