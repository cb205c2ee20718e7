package awsdest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/surgehq/surge/pkg/subscription"
	"github.com/surgehq/surge/pkg/webhook"
)

// Keys of webhook.Result.Header that an AWS attempt fills, as the attempt
// log shows them.
const (
	HeaderRequestID      = "x-amzn-requestid"
	HeaderErrorCode      = "x-amzn-errortype"
	HeaderMessageID      = "x-surge-aws-message-id"
	HeaderSequenceNumber = "x-surge-aws-sequence-number"
	HeaderEventID        = "x-surge-aws-event-id"
)

// Error is an AWS call's refusal: the API's error, or one entry's error
// in a batch answer (PutEvents). Code is AWS's error code
// (QueueDoesNotExist, AccessDeniedException, ThrottlingException, ...).
type Error struct {
	Op      string // SendMessage, PutEvents
	Code    string
	Message string
	Status  int  // the HTTP status; 200 for an entry's error
	Entry   bool // the call succeeded and one entry of it failed
	err     error
}

func (e *Error) Error() string {
	what := "AWS"
	if e.Entry {
		what = "AWS entry"
	}
	if e.Message == "" {
		return fmt.Sprintf("%s %s: %s error %s", e.Op, what, what, e.Code)
	}
	return fmt.Sprintf("%s %s error %s: %s", e.Op, what, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.err }

// ErrorCode is the AWS error code err carries (an *Error in its chain),
// "" when it carries none. The dispatcher writes it to the
// surge.dlq.aws-error-code header of a dead letter.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// retryableCodes are AWS error codes that say "try again later", beyond
// the SDK's throttling and timeout codes: server faults and the KMS
// throttling of encrypted queues.
var retryableCodes = map[string]bool{
	"InternalFailure":         true,
	"InternalError":           true,
	"InternalException":       true,
	"InternalServerError":     true,
	"ServiceUnavailable":      true,
	"KmsThrottled":            true,
	"KMS.ThrottlingException": true,
	"ExpiredToken":            true,
	"ExpiredTokenException":   true,
	"RequestExpired":          true,
}

// RetryableCode reports whether an AWS error code says try again later:
// throttling (ThrottlingException, RequestThrottled, ...), timeouts,
// server faults, an expired token. Any other code can never succeed.
func RetryableCode(code string) bool {
	_, throttle := retry.DefaultThrottleErrorCodes[code]
	_, timeout := retry.DefaultRetryableErrorCodes[code]
	return throttle || timeout || retryableCodes[code]
}

// failed classifies an AWS call that did not succeed. reqCtx is the
// call's context, derived from the caller's ctx with the timeout.
func failed(ctx, reqCtx context.Context, timeout time.Duration, err error) webhook.Result {
	var ae *subscription.AddrError
	var api smithy.APIError
	var invalid smithy.InvalidParamsError
	switch {
	case errors.As(err, &ae):
		return webhook.Result{Outcome: webhook.Refused, Err: fmt.Errorf("refusing to connect to %s: %w", ae.Addr, ae)}
	case ctx.Err() != nil:
		return webhook.Result{Outcome: webhook.Retry, Err: fmt.Errorf("%w: %w", webhook.ErrCanceled, err)}
	case errors.As(err, &api):
		return apiFailed(err, api)
	case reqCtx.Err() != nil:
		return webhook.Result{Outcome: webhook.Retry, Err: fmt.Errorf("%w after %s: %w", webhook.ErrTimeout, timeout, err)}
	case errors.As(err, &invalid):
		return webhook.Result{Outcome: webhook.Reject, Err: err}
	}
	// Network errors, missing credentials, a configuration that did not
	// load: the operator or the network may fix them.
	return webhook.Result{Outcome: webhook.Retry, Err: err}
}

// apiFailed is the Result of an API error answer.
func apiFailed(err error, api smithy.APIError) webhook.Result {
	e := &Error{Op: operation(err), Code: api.ErrorCode(), Message: api.ErrorMessage(), err: err}
	res := webhook.Result{Header: map[string]string{HeaderErrorCode: e.Code}, Body: e.Message}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		e.Status = re.HTTPStatusCode()
		res.Status = e.Status
		if id := re.ServiceRequestID(); id != "" {
			res.Header[HeaderRequestID] = id
		}
	}
	res.Err = e
	switch {
	case RetryableCode(e.Code), api.ErrorFault() == smithy.FaultServer, e.Status == 429, e.Status >= 500:
		res.Outcome = webhook.Retry
	default:
		res.Outcome = webhook.Reject
	}
	return res
}

// operation names the AWS operation an SDK error came from.
func operation(err error) string {
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return oe.Operation()
	}
	return "AWS call"
}

// entryFailed is the Result of a batch answer whose one entry failed.
func entryFailed(op, code, message, requestID string) webhook.Result {
	e := &Error{Op: op, Code: code, Message: message, Status: 200, Entry: true}
	res := webhook.Result{Status: 200, Err: e, Body: message, Header: map[string]string{HeaderErrorCode: code}, Outcome: webhook.Reject}
	if requestID != "" {
		res.Header[HeaderRequestID] = requestID
	}
	if RetryableCode(code) {
		res.Outcome = webhook.Retry
	}
	return res
}

// ptr is *p, "" for nil.
func ptr(p *string) string { return aws.ToString(p) }
