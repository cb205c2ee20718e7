package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/services/dispatcher"
	"github.com/surgehq/surge/services/enrich"
	"github.com/surgehq/surge/services/fanout"
	"github.com/surgehq/surge/services/ingest"
)

// configFields flattens a configuration struct into "Field.Path" → value.
func configFields(prefix string, v reflect.Value, out map[string]any) {
	if v.Kind() != reflect.Struct {
		out[prefix] = v.Interface()
		return
	}
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if prefix != "" {
			name = prefix + "." + name
		}
		configFields(name, v.Field(i), out)
	}
}

// TestDevRunsTheServicesDefaults fails when surge dev runs a service with
// a setting other than the service's own default that devOverrides does
// not declare: a default changed in a service's Flags changes dev's too.
func TestDevRunsTheServicesDefaults(t *testing.T) {
	c := testDevConfig(t.TempDir())
	// Every dev flag a service setting follows, away from its default, so
	// each override shows.
	c.Partitions, c.ReplicationFactor = 3, 2
	c.Log.Level, c.Stall.After = "debug", 7*time.Second
	c.BodyDrain = httpx.Drain{MaxBytes: 12345, MaxTime: 3 * time.Second}
	brokers := []string{"127.0.0.1:19092"}
	got := newDevServices(c, devKafka(c, brokers), "http://127.0.0.1:18085", "127.0.0.1:18080")

	used := map[string]bool{}
	for _, s := range []struct {
		name         string
		def, running any
	}{
		{"ingest", serviceDefaults[ingest.Config](), got.Ingest},
		{"enrich", serviceDefaults[enrich.Config](), got.Enrich},
		{"fanout", serviceDefaults[fanout.Config](), got.Fanout},
		{"dispatcher", serviceDefaults[dispatcher.Config](), got.Dispatcher},
	} {
		def, running := map[string]any{}, map[string]any{}
		configFields("", reflect.ValueOf(s.def), def)
		configFields("", reflect.ValueOf(s.running), running)
		for field, want := range def {
			reason, declared := devOverrides[s.name+"."+field]
			if !declared {
				reason, declared = devOverrides["*."+field]
			}
			if declared {
				used[s.name+"."+field], used["*."+field] = true, true
				if reason == "" {
					t.Errorf("devOverrides gives no reason for %s.%s", s.name, field)
				}
				continue
			}
			if !reflect.DeepEqual(running[field], want) {
				t.Errorf("surge dev runs %s with %s = %v, its default is %v: take the default, or declare the override and why in devOverrides",
					s.name, field, running[field], want)
			}
		}
		if !reflect.DeepEqual(reflect.ValueOf(s.running).FieldByName("Kafka").Interface(), devKafka(c, brokers)) {
			t.Errorf("%s does not run on dev's Kafka configuration", s.name)
		}
	}
	for key := range devOverrides {
		if !used[key] {
			t.Errorf("devOverrides declares %s, which no service has", key)
		}
	}

	// The overrides are what dev means.
	for name, pair := range map[string][2]any{
		"ingest.Addr":              {got.Ingest.Addr, "127.0.0.1:18080"},
		"ingest.BodyDrain":         {got.Ingest.BodyDrain, c.BodyDrain},
		"dispatcher.AllowLoopback": {got.Dispatcher.AllowLoopback, true},
		"enrich.InstanceID":        {got.Enrich.InstanceID, devInstanceID},
		"fanout.Stall":             {got.Fanout.Stall, c.Stall},
		"dispatcher.Registry.URL":  {got.Dispatcher.Registry.URL, "http://127.0.0.1:18085"},
		"enrich.MetricsAddr":       {got.Enrich.MetricsAddr, ""},
		"Kafka.Brokers":            {strings.Join(got.Fanout.Kafka.Brokers, ","), "127.0.0.1:19092"},
		"Kafka.Partitions":         {got.Dispatcher.Kafka.Partitions, int32(3)},
		"Kafka.ReplicationFactor":  {got.Ingest.Kafka.ReplicationFactor, int16(2)},
		"Log.Level":                {got.Enrich.Log.Level, "debug"},
	} {
		if fmt.Sprint(pair[0]) != fmt.Sprint(pair[1]) {
			t.Errorf("%s = %v, want %v", name, pair[0], pair[1])
		}
	}
}
