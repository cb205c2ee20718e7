package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/observe"
)

// DLQ is what the admin API needs of the dead-letter operations;
// *dlq.Service implements it. Every method may block on Kafka and is safe
// for concurrent use. Errors are classified as pkg/dlq documents them:
// *dlq.InvalidError, *dlq.RefusedError, dlq.ErrNotFound, dlq.ErrConflict;
// anything else is Kafka or the registry being unavailable.
type DLQ interface {
	Stats(ctx context.Context, topic string, tick func(dlq.Progress)) (*dlq.Stats, error)
	Record(ctx context.Context, topic string, partition int32, offset int64) (*dlq.Record, error)
	// Records lists a page of dead letters.
	Records(ctx context.Context, b dlq.Browse) (*dlq.Page, error)
	// Plan is the dry run of a replay.
	Plan(ctx context.Context, sel dlq.Selection, each func(dlq.Planned), tick func(dlq.Progress)) (*dlq.Plan, error)
	// Start plans a replay and runs it in the background.
	Start(ctx context.Context, sel dlq.Selection) (dlq.Status, error)
	// ResumeBackground resumes a stopped replay in the background.
	ResumeBackground(ctx context.Context, id string) (dlq.Status, error)
	// Stop stops a replay this process runs, after committing its position.
	Stop(ctx context.Context, id string) (dlq.Status, error)
	Get(ctx context.Context, id string) (dlq.Status, error)
	List(ctx context.Context) ([]dlq.Status, error)
}

// MaxDryRunRecords bounds the records a dry run lists; the counts cover
// every record.
const MaxDryRunRecords = 100

// replayRequest is the body of POST /v1/dlq/replays: a selection, and
// dry_run to only count.
type replayRequest struct {
	dlq.Selection
	DryRun bool `json:"dry_run,omitempty"`
}

// dryRun is the answer to a dry run.
type dryRun struct {
	Plan *dlq.Plan `json:"plan"`
	// Records lists the first MaxDryRunRecords records a replay would
	// write, in offset order per partition.
	Records   []dlq.Planned `json:"records"`
	Truncated bool          `json:"truncated"`
}

type replayList struct {
	Replays []dlq.Status `json:"replays"`
}

// dlqError maps a pkg/dlq error to the API's answer.
func dlqError(err error) error {
	var (
		inv *dlq.InvalidError
		ref *dlq.RefusedError
	)
	switch {
	case errors.As(err, &inv):
		// The document states the topic, rate and from_offset rules
		// whole; the others (a partition the topic lacks, until before
		// since, a filter, a subscription) only in words.
		status := http.StatusUnprocessableEntity
		switch inv.Field {
		case "topic", "rate", "from_offset":
			status = http.StatusBadRequest
		}
		return &httpx.Error{Status: status, Code: httpx.CodeInvalid, Field: inv.Field, Message: inv.Message}
	case errors.As(err, &ref):
		return httpx.Errorf(http.StatusConflict, httpx.CodeConflict, "%s", err.Error())
	case errors.Is(err, dlq.ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, "%s", err.Error())
	case errors.Is(err, dlq.ErrConflict):
		return httpx.Errorf(http.StatusConflict, httpx.CodeConflict, "%s", err.Error())
	}
	e := httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "reading or writing Kafka failed: %v; retry later", err)
	e.RetryAfter = RetryAfter
	return e
}

func (a *API) dlqService() (DLQ, error) {
	if a.deps.DLQ == nil {
		e := httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "this admin process has no access to the dead-letter topics")
		e.RetryAfter = RetryAfter
		return nil, e
	}
	return a.deps.DLQ, nil
}

// fromDLQ is what op returns from the API's DLQ service: a 503 when the
// API has none, and op's failure as dlqError answers it.
func fromDLQ[T any](a *API, op func(d DLQ) (T, error)) (T, error) {
	var zero T
	d, err := a.dlqService()
	if err != nil {
		return zero, err
	}
	v, err := op(d)
	if err != nil {
		return zero, dlqError(err)
	}
	return v, nil
}

func (a *API) dlqStats(r *http.Request) (any, error) {
	return fromDLQ(a, func(d DLQ) (*dlq.Stats, error) { return d.Stats(r.Context(), r.URL.Query().Get("topic"), nil) })
}

func (a *API) dlqRecord(r *http.Request) (any, error) {
	d, err := a.dlqService()
	if err != nil {
		return nil, err
	}
	p, perr := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	if perr != nil || p < 0 {
		return nil, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "partition", Message: "must be a partition number"}
	}
	o, oerr := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	if oerr != nil || o < 0 {
		return nil, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "offset", Message: "must be an offset (a number from 0)"}
	}
	rec, err := d.Record(r.Context(), r.URL.Query().Get("topic"), int32(p), o)
	if err != nil {
		return nil, dlqError(err)
	}
	return rec, nil
}

func (a *API) createReplay(w http.ResponseWriter, r *http.Request) error {
	var in replayRequest
	if err := a.decodeBody(w, r, &in, nil); err != nil {
		return err
	}
	if in.DryRun {
		return a.planReplay(w, r, in.Selection)
	}
	st, err := fromDLQ(a, func(d DLQ) (dlq.Status, error) { return d.Start(r.Context(), in.Selection) })
	if err != nil {
		return err
	}
	a.change(r).log.Info("replay started", zap.String(observe.KeyReplayID, st.ID), zap.String(observe.KeyTopic, st.Selection.Topic), zap.Int64("total", st.Total))
	return acceptedReplay(w, st)
}

// planReplay answers a dry run of a replay of sel: the plan and the first
// MaxDryRunRecords records it would write.
func (a *API) planReplay(w http.ResponseWriter, r *http.Request, sel dlq.Selection) error {
	out := dryRun{Records: []dlq.Planned{}}
	pl, err := fromDLQ(a, func(d DLQ) (*dlq.Plan, error) {
		return d.Plan(r.Context(), sel, func(p dlq.Planned) {
			if len(out.Records) < MaxDryRunRecords {
				out.Records = append(out.Records, p)
			} else {
				out.Truncated = true
			}
		}, nil)
	})
	if err != nil {
		return err
	}
	out.Plan = pl
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// acceptedReplay answers with a replay running in the background: a 202
// with its Location.
func acceptedReplay(w http.ResponseWriter, st dlq.Status) error {
	w.Header().Set("Location", "/v1/dlq/replays/"+st.ID)
	httpx.WriteJSON(w, http.StatusAccepted, st)
	return nil
}

func (a *API) listReplays(r *http.Request) (any, error) {
	list, err := fromDLQ(a, func(d DLQ) ([]dlq.Status, error) { return d.List(r.Context()) })
	if err != nil {
		return nil, err
	}
	return replayList{Replays: orEmpty(list)}, nil
}

func (a *API) getReplay(r *http.Request) (any, error) {
	return fromDLQ(a, func(d DLQ) (dlq.Status, error) { return d.Get(r.Context(), r.PathValue("id")) })
}

func (a *API) resumeReplay(w http.ResponseWriter, r *http.Request) error {
	st, err := fromDLQ(a, func(d DLQ) (dlq.Status, error) { return d.ResumeBackground(r.Context(), r.PathValue("id")) })
	if err != nil {
		return err
	}
	a.change(r).log.Info("replay resumed", zap.String(observe.KeyReplayID, st.ID))
	return acceptedReplay(w, st)
}

func (a *API) stopReplay(w http.ResponseWriter, r *http.Request) error {
	st, err := fromDLQ(a, func(d DLQ) (dlq.Status, error) { return d.Stop(r.Context(), r.PathValue("id")) })
	if err != nil {
		return err
	}
	a.change(r).log.Info("replay stopped", zap.String(observe.KeyReplayID, st.ID), zap.Int64("replayed", st.Replayed))
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}
