package main

import "github.com/surgehq/surge/pkg/inspect"

// lag is group's position on topic, counted as pkg/inspect counts it for
// the admin API too (Offsets.Lag).
func (v *topicsView) lag(topic, group string) inspect.GroupLag {
	return v.Lag(topic, group, group == v.stage(topic))
}
