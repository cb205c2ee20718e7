package console

import (
	"fmt"
	"net/http"

	"github.com/surgehq/surge/pkg/inspect"
)

// The topics page: every topic as `surge topics list` shows it (GET
// /v1/topics), a table per topic with a row per partition and a lag
// column per consumer group.

// topicsData is the topics page.
type topicsData struct {
	Topics      []topicView
	SizeError   string
	StallsError string
}

// topicView is one topic's table: its line and its partitions, each with
// every group's lag on it (in the order of Groups).
type topicView struct {
	inspect.TopicDetail
	Size string
	Rows []topicRow
}

type topicRow struct {
	inspect.PartitionDesc
	Size string
	Lags []inspect.PartitionLag
}

func (c *Console) topicsPage(w http.ResponseWriter, r *http.Request, _ session) error {
	var rep inspect.TopicReport
	if err := c.call(r.Context(), http.MethodGet, "/v1/topics", nil, &rep); err != nil {
		return err
	}
	d := topicsData{SizeError: rep.SizeError, StallsError: rep.StallsError}
	for _, t := range rep.Topics {
		v := topicView{TopicDetail: t, Size: bytesText(t.SizeBytes)}
		for _, p := range t.PartitionList {
			row := topicRow{PartitionDesc: p, Size: bytesText(p.SizeBytes)}
			for _, g := range t.Groups {
				lag := inspect.PartitionLag{Partition: p.Partition}
				for _, gp := range g.Partitions {
					if gp.Partition == p.Partition {
						lag = gp
					}
				}
				row.Lags = append(row.Lags, lag)
			}
			v.Rows = append(v.Rows, row)
		}
		d.Topics = append(d.Topics, v)
	}
	return c.render(w, r, http.StatusOK, "topics", page{Title: "Topics", Nav: "topics", Refresh: true, Data: d})
}

// bytesText is a size in binary units, or n/a when unknown.
func bytesText(n *int64) string {
	if n == nil {
		return "n/a"
	}
	const unit = 1024
	if *n < unit {
		return fmt.Sprintf("%d B", *n)
	}
	v, i := float64(*n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
