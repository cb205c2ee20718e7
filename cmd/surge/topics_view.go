package main

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/inspect"
	"github.com/surgehq/surge/pkg/kafkax"
	"github.com/surgehq/surge/pkg/topics"
)

// topicsView is what the cluster said about its topics and groups, read
// once by pkg/inspect (the admin API's GET /v1/topics reads the same),
// and the subscriptions' backlog that `surge topics list` ends with.
type topicsView struct {
	*inspect.Topics
	// backlog is every subscription's backlog in the dispatchers, from
	// their fresh reports, by subscription id; backlogErr says why it
	// could not be read.
	backlog    []backlog.Summary
	backlogErr error
}

// inspectTopics reads everything list needs, or with only set, what
// describe needs for that one topic; registryURL decodes the stall and
// backlog reports.
func inspectTopics(ctx context.Context, adm *kadm.Client, kafka config.Kafka, registryURL, only string) (*topicsView, error) {
	reg, err := avroserde.Connect(registryURL)
	if err != nil {
		return nil, err
	}
	t, err := inspect.ReadTopics(ctx, adm, inspect.TopicsConfig{
		Names: topics.Namer{Prefix: kafka.TopicPrefix}, ClientOpts: kafkax.ClientOpts(kafka, nil), Registry: reg, Only: only,
	})
	if err != nil {
		return nil, err
	}
	v := &topicsView{Topics: t}
	if len(t.Meta) > 0 {
		v.backlog, v.backlogErr = readBacklog(ctx, kafka, registryURL, v.Exists(v.Names.Name(topics.Backlog)), time.Now())
	}
	return v, nil
}
