package ingest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/segmentio/ksuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/catalog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/topics"
)

// Request headers ingest reads.
const (
	headerIdempotencyKey = "Idempotency-Key"
	headerCorrelationID  = "X-Correlation-Id"
	headerSource         = "X-Surge-Source"
)

// Endpoint labels for metrics.
const (
	endpointCanonical   = "canonical"
	endpointAdobe       = "adobe"
	endpointCloudEvents = "cloudevents"
)

// Mount adds the ingest routes to mux.
func (s *Service) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/events", s.handle(endpointCanonical))
	mux.HandleFunc("POST /v1/sources/{source}/events", s.handle(endpointCanonical))
	mux.HandleFunc("POST /v1/sources/{source}/adobe", s.handle(endpointAdobe))
	mux.HandleFunc("POST /v1/sources/{source}/cloudevents", s.handle(endpointCloudEvents))
}

// Handler returns the ingest routes alone.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Mount(mux)
	return mux
}

// accepted is the 202 body.
type accepted struct {
	ID         string   `json:"id,omitempty"`  // single event
	IDs        []string `json:"ids,omitempty"` // batch
	Duplicates int      `json:"duplicates"`    // events answered from the idempotency index
}

func (s *Service) handle(endpoint string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var status int
		r, endSpan := s.traceRequest(r)
		defer func() { endSpan(status) }()
		status, err := s.serve(w, r, endpoint)
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) {
				s.log.Error("ingest request failed", zap.String("endpoint", endpoint), zap.Error(err))
				he = &httpx.Error{Status: http.StatusInternalServerError, Code: httpx.CodeInternal, Message: "internal error"}
			}
			s.m.rejected.WithLabelValues(he.Code).Inc()
			status = he.Status
			httpx.WriteError(w, he)
		}
		s.m.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	}
}

// serve handles one request and writes the success response; errors are
// returned for handle to write.
func (s *Service) serve(w http.ResponseWriter, r *http.Request, endpoint string) (int, error) {
	if !s.Ready() {
		return 0, &httpx.Error{Status: http.StatusServiceUnavailable, Code: httpx.CodeUnavailable, Message: "ingest is not ready", RetryAfter: 5 * time.Second}
	}
	srcID := r.PathValue("source")
	if srcID == "" {
		srcID = r.Header.Get(headerSource)
	}
	if srcID == "" {
		srcID = catalog.DefaultSource().ID
	}
	src, ok := s.sources.Source(srcID)
	if !ok {
		return 0, httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, "unknown source %q", srcID)
	}
	if endpoint != endpointCloudEvents {
		if err := CheckJSONContentType(r.Header.Get("Content-Type")); err != nil {
			return 0, err
		}
	}
	body, err := httpx.ReadBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return 0, err
	}
	now := s.now().UTC()
	if err := VerifySignature(src.Signature, r.Header, body, now); err != nil {
		return 0, err
	}
	idem := r.Header.Get(headerIdempotencyKey)
	var evs []event.Event
	dec := Decoder{Source: src, Catalog: s.catalog, Validator: s.validator, Now: now}
	switch endpoint {
	case endpointCanonical:
		evs, err = dec.Canonical(body, idem)
	case endpointAdobe:
		evs, err = dec.Adobe(body, idem)
	case endpointCloudEvents:
		evs, err = dec.CloudEvents(r, body)
	}
	if err != nil {
		return 0, err
	}
	names := map[string]fieldNames{endpointCanonical: canonicalFields, endpointAdobe: adobeFields, endpointCloudEvents: cloudEventsFields}[endpoint]
	if err := identify(r.Context(), src, s.aliases, evs, names, isBatch(body), batchName(body)); err != nil {
		return 0, err
	}

	if !s.budget.TryAcquire(int64(len(evs))) {
		return 0, &httpx.Error{Status: http.StatusTooManyRequests, Code: httpx.CodeOverloaded,
			Message: "too many events in flight; retry later", RetryAfter: time.Second}
	}
	s.m.inFlight.Add(float64(len(evs)))
	defer func() {
		s.budget.Release(int64(len(evs)))
		s.m.inFlight.Sub(float64(len(evs)))
	}()

	ids, dups, err := s.accept(r.Context(), evs, r.Header.Get(headerCorrelationID), now, isBatch(body))
	if err != nil {
		return 0, err
	}
	if dups > 0 {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	resp := accepted{Duplicates: dups}
	if len(ids) == 1 && !isBatch(body) {
		resp.ID = ids[0]
	} else {
		resp.IDs = ids
	}
	httpx.WriteJSON(w, http.StatusAccepted, resp)
	return http.StatusAccepted, nil
}

// accept mints ids, resolves idempotency keys and writes the new events,
// returning the id of every event in request order.
// Each event's record carries its trace context (traceEvent); the spans
// of the records end when the write does.
func (s *Service) accept(ctx context.Context, evs []event.Event, correlation string, now time.Time, batch bool) ([]string, int, error) {
	ids := make([]string, len(evs))
	var (
		claimed []string // dedup keys this request holds
		recs    = make([]*kgo.Record, 0, 2*len(evs))
		spans   []trace.Span // the records' send spans, when tracing is on
		dups    int
		mine    = map[string]string{} // keys claimed by this request → event id
	)
	// The claims end with the write's outcome. That can come after this
	// request has answered (its transaction commits after its deadline):
	// a retry with the same key waits for it instead of writing again.
	settle := func(err error) {
		for _, k := range claimed {
			s.dedup.release(k, err == nil, now)
		}
	}
	settled := false
	defer func() {
		if !settled {
			settle(errNotWritten)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProduceTimeout)
	defer cancel()
	defer func() { // also when a later event fails before the write
		for _, span := range spans {
			span.End()
		}
	}()

	for i := range evs {
		ev := &evs[i]
		if ev.IdempotencyKey == "" && ev.ID != "" {
			ev.IdempotencyKey = ev.ID
		}
		ev.ID = ksuid.New().String()
		if ev.OriginalType == ev.Type {
			ev.OriginalType = "" // the schema keeps it only when it differs
		}
		ev.ReceivedAt = now
		if ev.Time.IsZero() {
			ev.Time = now
		}
		ev.CorrelationID = correlation
		if ev.CorrelationID == "" {
			ev.CorrelationID = ev.ID
		}
		if ev.IdempotencyKey != "" {
			key := dedupKey(ev.Source, ev.IdempotencyKey)
			if id, ok := mine[key]; ok {
				// The same key twice in one request: one event.
				ids[i] = id
				dups++
				continue
			}
			id, dup, err := s.dedup.claim(ctx, key, ev.ID)
			if err != nil {
				return nil, 0, unavailable("waiting for a concurrent request with the same idempotency key")
			}
			if dup {
				ids[i] = id
				dups++
				continue
			}
			claimed = append(claimed, key)
			mine[key] = ev.ID
			val, err := s.dedups.Encode(IdempotencyRecord{Source: ev.Source, IdempotencyKey: ev.IdempotencyKey, EventID: ev.ID, AcceptedAt: now})
			if err != nil {
				return nil, 0, err
			}
			recs = append(recs, &kgo.Record{Topic: s.names.Name(topics.IngestDedup), Key: []byte(key), Value: val})
		}
		ids[i] = ev.ID
		val, err := s.events.Encode(*ev)
		if err != nil {
			return nil, 0, err
		}
		rec := &kgo.Record{
			Topic: s.names.Name(topics.EventsRaw),
			Key:   []byte(ev.Entity.Key()),
			Value: val,
			Headers: []kgo.RecordHeader{
				{Key: topics.HeaderEventID, Value: []byte(ev.ID)},
				{Key: topics.HeaderCorrelationID, Value: []byte(ev.CorrelationID)},
				{Key: topics.HeaderEventType, Value: []byte(ev.Type)},
				{Key: topics.HeaderSource, Value: []byte(ev.Source)},
			},
		}
		if span := s.traceEvent(ctx, ev, rec, batch); span != nil {
			spans = append(spans, span)
		}
		recs = append(recs, rec)
	}
	s.m.duplicates.Add(float64(dups))
	if len(recs) == 0 {
		return ids, dups, nil
	}
	settled = true // from here Write settles the claims
	if err := s.writer.Write(ctx, recs, settle); err != nil {
		failSpans(spans, err)
		if errors.Is(err, errUndecided) {
			s.log.Warn("events not acknowledged in time; they may still be written", zap.Int("events", len(evs)-dups), zap.Error(err))
			return nil, 0, unavailable("Kafka did not acknowledge the events in time; they may still be written: " +
				"retry with the same Idempotency-Key (or event ids) and they are written once")
		}
		s.log.Warn("events not written", zap.Int("events", len(evs)-dups), zap.Error(err))
		return nil, 0, unavailable("Kafka did not acknowledge the events in time; nothing was accepted")
	}
	s.m.accepted.Add(float64(len(evs) - dups))
	return ids, dups, nil
}

func unavailable(msg string) *httpx.Error {
	return &httpx.Error{Status: http.StatusServiceUnavailable, Code: httpx.CodeUnavailable, Message: msg, RetryAfter: 5 * time.Second}
}

// batchName is the name batch items' error fields start with: "events"
// for {"events":[...]}, "" for a JSON array ("[3].data").
func batchName(body []byte) string {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		return ""
	}
	return "events"
}

// isBatch tells a {"events":[...]} or JSON array body from a single event,
// so a batch of one still answers with "ids".
func isBatch(body []byte) bool {
	t := bytes.TrimLeft(body, " \t\r\n")
	if len(t) == 0 {
		return false
	}
	if t[0] == '[' {
		return true
	}
	return t[0] == '{' && bytes.HasPrefix(bytes.TrimLeft(t[1:], " \t\r\n"), []byte(`"events"`))
}
