package awsdest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/surgehq/surge/pkg/webhook"
)

// Message attributes of every SQS message Surge sends.
const (
	AttributeWebhookID = "webhook-id"
	AttributeEventType = "event-type"
	AttributeEntityKey = "entity-key"
)

// maxFIFOIDLength bounds a FIFO queue's MessageGroupId and
// MessageDeduplicationId.
const maxFIFOIDLength = 128

// IsFIFO reports whether a queue URL names a FIFO queue: its name ends in
// ".fifo", as SQS requires of FIFO queues.
func IsFIFO(queueURL string) bool { return strings.HasSuffix(queueURL, ".fifo") }

// sendSQS sends r as one SQS message.
func (c *client) sendSQS(ctx, reqCtx context.Context, timeout time.Duration, r Request) webhook.Result {
	q := r.Destination.SQS
	in := &sqs.SendMessageInput{
		QueueUrl:    aws.String(q.QueueURL),
		MessageBody: aws.String(string(r.Body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttributeWebhookID: stringAttribute(r.ID),
			AttributeEventType: stringAttribute(r.EventType),
			AttributeEntityKey: stringAttribute(r.EntityKey),
		},
	}
	if IsFIFO(q.QueueURL) {
		// The queue keeps the entity's order within its group and drops
		// a retry of a message it already has (5 minutes' window).
		in.MessageGroupId = aws.String(FIFOID(r.EntityKey))
		in.MessageDeduplicationId = aws.String(FIFOID(r.ID))
	}
	out, err := c.sqs.SendMessage(reqCtx, in)
	if err != nil {
		return failed(ctx, reqCtx, timeout, err)
	}
	h := map[string]string{HeaderMessageID: ptr(out.MessageId)}
	if out.SequenceNumber != nil {
		h[HeaderSequenceNumber] = *out.SequenceNumber
	}
	if id, ok := requestID(out.ResultMetadata); ok {
		h[HeaderRequestID] = id
	}
	return webhook.Result{Outcome: webhook.Delivered, Status: 200, Header: h}
}

// FIFOID is s as a FIFO queue's MessageGroupId or MessageDeduplicationId
// takes it: s itself when it is at most 128 characters of printable ASCII
// (what SQS allows), else "sha256:" and the hex SHA-256 of s, the same
// for the same s.
func FIFOID(s string) string {
	if s != "" && len(s) <= maxFIFOIDLength && !strings.ContainsFunc(s, func(r rune) bool { return r < '!' || r > '~' }) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func stringAttribute(v string) types.MessageAttributeValue {
	if v == "" {
		v = "-" // SQS refuses an empty string attribute
	}
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// requestID is the AWS request id of a successful call.
func requestID(md middleware.Metadata) (string, bool) {
	v, ok := awsmiddleware.GetRequestIDMetadata(md)
	return v, ok && v != ""
}
