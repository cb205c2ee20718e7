package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/surgehq/surge/pkg/inspect"
)

// The subscriptions' attempt stats the list, a subscription's page and
// the overview show, from one GET /v1/attempt-stats, and the list's
// paging.

// statsWindow is the window the list and a subscription's page count
// attempts over.
const statsWindow = "5m"

// pageSize is how many subscriptions one page of the list shows.
const pageSize = 100

// attemptStats is the stats of every subscription over window, by
// subscription id, or why they could not be read.
func (c *Console) attemptStats(ctx context.Context, window string) (*inspect.AttemptStatsReport, map[string]*statsView, string) {
	var rep inspect.AttemptStatsReport
	if err := c.call(ctx, http.MethodGet, "/v1/attempt-stats?window="+window, nil, &rep); err != nil {
		return nil, nil, err.Error()
	}
	by := map[string]*statsView{}
	for i := range rep.Subscriptions {
		by[rep.Subscriptions[i].Subscription] = &statsView{rep.Subscriptions[i]}
	}
	return &rep, by, ""
}

// statsView is one subscription's stats as the pages print them.
type statsView struct {
	inspect.SubscriptionAttemptStats
}

// Rate is the success rate in percent, "-" when there was no attempt.
func (s *statsView) Rate() string {
	if s == nil || s.SuccessRate == nil {
		return "-"
	}
	return strconv.FormatFloat(*s.SuccessRate*100, 'f', 1, 64) + " %"
}

// RateClass colours the rate: all delivered good, some failed warn, none
// delivered bad.
func (s *statsView) RateClass() string {
	switch {
	case s == nil || s.SuccessRate == nil:
		return ""
	case *s.SuccessRate >= 1:
		return "good"
	case *s.SuccessRate > 0:
		return "warn"
	}
	return "bad"
}

// P50 and P99 are the attempt-time percentiles, "-" when none.
func (s *statsView) P50() string { return msText(s, func(s *statsView) *float64 { return s.P50MS }) }
func (s *statsView) P99() string { return msText(s, func(s *statsView) *float64 { return s.P99MS }) }

func msText(s *statsView, f func(*statsView) *float64) string {
	if s == nil || f(s) == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", *f(s))
}

// Failing reports whether some attempt of the window failed.
func (s *statsView) Failing() bool { return s != nil && s.Failed > 0 }

// listPage is one page of the subscriptions list.
type listPage struct {
	Page, Pages    int
	First, Last    int // 1-based, of Total; 0 when there are none
	Total          int
	Prev, Next     int // 0: none
	Numbers        []int
	CountText      string
	StatsWindow    string
	StatsError     string
	StatsTruncated bool
	ParkedError    string
}

// pageOf cuts n rows into pages of pageSize and picks the one r asks for
// with ?page=N (1 when absent or out of range), returning its bounds.
func pageOf(r *http.Request, n int) (listPage, int, int) {
	pages := max(1, (n+pageSize-1)/pageSize)
	p, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || p < 1 {
		p = 1
	}
	p = min(p, pages)
	lo, hi := (p-1)*pageSize, min(p*pageSize, n)
	lp := listPage{Page: p, Pages: pages, Total: n}
	if n > 0 {
		lp.First, lp.Last = lo+1, hi
	}
	if p > 1 {
		lp.Prev = p - 1
	}
	if p < pages {
		lp.Next = p + 1
	}
	for i := 1; i <= pages; i++ {
		lp.Numbers = append(lp.Numbers, i)
	}
	lp.CountText = fmt.Sprintf("%s–%s of %s", thousands(lp.First), thousands(lp.Last), thousands(n))
	return lp, lo, hi
}

// thousands writes n with a comma every three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
