package admin

import (
	"net/http"
	"strconv"

	"github.com/surgehq/surge/pkg/dlq"
	"github.com/surgehq/surge/pkg/httpx"
)

// dlqRecords is GET /v1/dlq/records: a page of dead letters, the newest
// first or from an offset on (dlq.Browse).
func (a *API) dlqRecords(r *http.Request) (any, error) {
	q := r.URL.Query()
	b := dlq.Browse{Topic: q.Get("topic")}
	p, err := queryInt(r, "partition", 0, 1<<31-1, "a partition number")
	if err != nil {
		return nil, err
	}
	if p != nil {
		part := int32(*p)
		b.Partition = &part
	}
	if b.FromOffset, err = queryInt(r, "from_offset", 0, 1<<63-1, "an offset (a number from 0)"); err != nil {
		return nil, err
	}
	limit, err := queryInt(r, "limit", 1, dlq.MaxBrowseLimit, "a number from 1 to "+strconv.Itoa(dlq.MaxBrowseLimit))
	if err != nil {
		return nil, err
	}
	if limit != nil {
		b.Limit = int(*limit)
	}
	return fromDLQ(a, func(d DLQ) (*dlq.Page, error) { return d.Records(r.Context(), b) })
}

// queryInt reads the query parameter name as a number from lo to hi; nil
// when it is absent. Given, even empty or twice, it must be one such
// number (a 400 naming it as what otherwise).
func queryInt(r *http.Request, name string, lo, hi int64, what string) (*int64, error) {
	vs, ok := r.URL.Query()[name]
	if !ok {
		return nil, nil
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	if len(vs) != 1 || err != nil || n < lo || n > hi {
		return nil, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: name, Message: "must be " + what}
	}
	return &n, nil
}
