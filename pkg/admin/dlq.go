package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/httpx"
)

// DLQ is what the admin API needs of the dead-letter operations;
// *dlq.Service implements it. Every method may block on Kafka and is safe
// for concurrent use. Errors are classified as pkg/dlq documents them:
// *dlq.InvalidError, *dlq.RefusedError, dlq.ErrNotFound, dlq.ErrConflict;
// anything else is Kafka or the registry being unavailable.
type DLQ interface {
	Stats(ctx context.Context, topic string, tick func(dlq.Progress)) (*dlq.Stats, error)
	Record(ctx context.Context, topic string, partition int32, offset int64) (*dlq.Record, error)
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

// mountDLQ registers the /v1/dlq routes.
func (a *API) mountDLQ(mux *http.ServeMux) {
	a.handle(mux, "/v1/dlq/stats", true, map[string]handlerFunc{
		http.MethodGet: a.dlqStats,
	})
	a.handle(mux, "/v1/dlq/records/{partition}/{offset}", true, map[string]handlerFunc{
		http.MethodGet: a.dlqRecord,
	})
	a.handle(mux, "/v1/dlq/replays", true, map[string]handlerFunc{
		http.MethodGet:  a.listReplays,
		http.MethodPost: a.createReplay,
	})
	a.handle(mux, "/v1/dlq/replays/{id}", true, map[string]handlerFunc{
		http.MethodGet: a.getReplay,
	})
	a.handle(mux, "/v1/dlq/replays/{id}/resume", true, map[string]handlerFunc{
		http.MethodPost: a.resumeReplay,
	})
	a.handle(mux, "/v1/dlq/replays/{id}/stop", true, map[string]handlerFunc{
		http.MethodPost: a.stopReplay,
	})
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

func (a *API) dlqStats(w http.ResponseWriter, r *http.Request) error {
	d, err := a.dlqService()
	if err != nil {
		return err
	}
	st, err := d.Stats(r.Context(), r.URL.Query().Get("topic"), nil)
	if err != nil {
		return dlqError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}

func (a *API) dlqRecord(w http.ResponseWriter, r *http.Request) error {
	d, err := a.dlqService()
	if err != nil {
		return err
	}
	p, perr := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	if perr != nil || p < 0 {
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "partition", Message: "must be a partition number"}
	}
	o, oerr := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	if oerr != nil || o < 0 {
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "offset", Message: "must be an offset (a number from 0)"}
	}
	rec, err := d.Record(r.Context(), r.URL.Query().Get("topic"), int32(p), o)
	if err != nil {
		return dlqError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, rec)
	return nil
}

func (a *API) createReplay(w http.ResponseWriter, r *http.Request) error {
	const route = "POST /v1/dlq/replays"
	var in replayRequest
	if err := a.decodeBody(w, r, &in, nil); err != nil {
		return err
	}
	d, err := a.dlqService()
	if err != nil {
		return err
	}
	if in.DryRun {
		out := dryRun{Records: []dlq.Planned{}}
		pl, err := d.Plan(r.Context(), in.Selection, func(p dlq.Planned) {
			if len(out.Records) < MaxDryRunRecords {
				out.Records = append(out.Records, p)
			} else {
				out.Truncated = true
			}
		}, nil)
		if err != nil {
			return dlqError(err)
		}
		out.Plan = pl
		httpx.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	st, err := d.Start(r.Context(), in.Selection)
	if err != nil {
		return dlqError(err)
	}
	a.log.Info("replay started", zap.String("route", route), zap.String("replay_id", st.ID), zap.String("topic", st.Selection.Topic), zap.Int64("total", st.Total))
	w.Header().Set("Location", "/v1/dlq/replays/"+st.ID)
	httpx.WriteJSON(w, http.StatusAccepted, st)
	return nil
}

func (a *API) listReplays(w http.ResponseWriter, r *http.Request) error {
	d, err := a.dlqService()
	if err != nil {
		return err
	}
	list, err := d.List(r.Context())
	if err != nil {
		return dlqError(err)
	}
	if list == nil {
		list = []dlq.Status{}
	}
	httpx.WriteJSON(w, http.StatusOK, replayList{Replays: list})
	return nil
}

func (a *API) getReplay(w http.ResponseWriter, r *http.Request) error {
	d, err := a.dlqService()
	if err != nil {
		return err
	}
	st, err := d.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return dlqError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}

func (a *API) resumeReplay(w http.ResponseWriter, r *http.Request) error {
	const route = "POST /v1/dlq/replays/{id}/resume"
	d, err := a.dlqService()
	if err != nil {
		return err
	}
	st, err := d.ResumeBackground(r.Context(), r.PathValue("id"))
	if err != nil {
		return dlqError(err)
	}
	a.log.Info("replay resumed", zap.String("route", route), zap.String("replay_id", st.ID))
	w.Header().Set("Location", "/v1/dlq/replays/"+st.ID)
	httpx.WriteJSON(w, http.StatusAccepted, st)
	return nil
}

func (a *API) stopReplay(w http.ResponseWriter, r *http.Request) error {
	const route = "POST /v1/dlq/replays/{id}/stop"
	d, err := a.dlqService()
	if err != nil {
		return err
	}
	st, err := d.Stop(r.Context(), r.PathValue("id"))
	if err != nil {
		return dlqError(err)
	}
	a.log.Info("replay stopped", zap.String("route", route), zap.String("replay_id", st.ID), zap.Int64("replayed", st.Replayed))
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}
