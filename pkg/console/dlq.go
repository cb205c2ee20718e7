package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/surgehq/surge/pkg/dlq"
)

// The dead-letter pages' templates, parsed with the others.
func init() {
	pageNames = append(pageNames, "dlq", "replay-wizard", "replays", "replay")
}

// dlqData is the dead-letter page: a topic's counts and a page of its
// records. A part whose route failed says why instead.
type dlqData struct {
	Topic  string
	Topics []string
	Stats  *dlq.Stats
	// StatsError and RecordsError are the admin API's refusal of each part.
	StatsError   string
	Records      *dlq.Page
	RecordsError string
	// Partition and FromOffset are the records' paging, as the query gave
	// them ("" for all partitions, the newest first).
	Partition, FromOffset string
}

// dlqTopic is the dead-letter topic a query names, the deliveries DLQ
// when it names none (or another topic: the API would refuse it).
func dlqTopic(q url.Values) string {
	if t := q.Get("topic"); slices.Contains(dlqTopics, t) {
		return t
	}
	return dlqTopics[0]
}

func (c *Console) dlqPage(w http.ResponseWriter, r *http.Request, _ session) error {
	q := r.URL.Query()
	d := dlqData{Topic: dlqTopic(q), Topics: dlqTopics, Partition: strings.TrimSpace(q.Get("partition")), FromOffset: strings.TrimSpace(q.Get("from_offset"))}
	var st dlq.Stats
	if err := c.call(r.Context(), http.MethodGet, "/v1/dlq/stats?topic="+url.QueryEscape(d.Topic), nil, &st); err != nil {
		d.StatsError = err.Error()
	} else {
		d.Stats = &st
	}
	rq := url.Values{"topic": {d.Topic}, "limit": {strconv.Itoa(dlq.DefaultBrowseLimit)}}
	if d.Partition != "" {
		rq.Set("partition", d.Partition)
	}
	if d.FromOffset != "" {
		rq.Set("from_offset", d.FromOffset)
	}
	var pg dlq.Page
	if err := c.call(r.Context(), http.MethodGet, "/v1/dlq/records?"+rq.Encode(), nil, &pg); err != nil {
		d.RecordsError = err.Error()
	} else {
		d.Records = &pg
	}
	return c.render(w, r, http.StatusOK, "dlq", page{Title: "Dead letters", Nav: "dlq", Data: d})
}

// NextOffset is the from_offset of the records' next page, "" when there
// is none.
func (d dlqData) NextOffset() string {
	if d.Records == nil || d.Records.NextFromOffset == nil {
		return ""
	}
	return strconv.FormatInt(*d.Records.NextFromOffset, 10)
}

// IsDeliveries says whether the page shows commerce.deliveries.dlq.
func (d dlqData) IsDeliveries() bool { return d.Topic == dlqTopics[0] }
