package main

import (
	"github.com/spf13/pflag"

	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/services/dispatcher"
	"github.com/surgehq/surge/services/enrich"
	"github.com/surgehq/surge/services/fanout"
	"github.com/surgehq/surge/services/ingest"
)

// devInstanceID names every service of surge dev: one instance of each,
// whose transactional ids, Kafka client ids and backlog reports
// (commerce.backlog) keep their names across restarts.
const devInstanceID = "dev"

// devOverrides are the settings surge dev runs differently from a
// service's own defaults (what its command runs with when no flag or
// SURGE_* variable is set), each with its reason. A key is
// "service.Field.Path"; "*" stands for every service that has the field.
// TestDevRunsTheServicesDefaults fails on any other difference, so a
// service's default changes dev's with it.
var devOverrides = map[string]string{
	"*.Kafka.Brokers":           "the process's one cluster: the embedded one on --kafka-addr, or --brokers",
	"*.Kafka.Partitions":        "dev's --partitions",
	"*.Kafka.ReplicationFactor": "dev's --replication-factor",
	"*.Registry.URL":            "the embedded schema registry on --registry-addr",
	"*.Log.Level":               "dev's --log-level",
	"*.Stall.After":             "dev's --stall-after",
	"*.InstanceID":              "one instance of each service: " + devInstanceID + ", not the host name, so its ids do not change with the machine",
	"*.MetricsAddr":             "not listened on: dev serves /healthz, /readyz and /metrics on the admin listener (only a service's own command listens on it)",
	"ingest.Addr":               "the listener dev claimed on --ingest-addr",
	"ingest.BodyDrain.MaxBytes": "dev's --drain-body-bytes, which dev applies to the ingest and admin listeners",
	"ingest.BodyDrain.MaxTime":  "dev's --drain-body-timeout, which dev applies to the ingest and admin listeners",
	"dispatcher.AllowLoopback":  "surge dev runs on one machine: endpoints on loopback are allowed",
}

// serviceDefaults is the configuration a service's command runs with when
// no flag or SURGE_* variable is set: the defaults its Flags registers.
func serviceDefaults[C any, P interface {
	*C
	Flags(fs *pflag.FlagSet)
}]() C {
	var c C
	P(&c).Flags(pflag.NewFlagSet("defaults", pflag.ContinueOnError))
	return c
}

// devServices are the configurations surge dev runs its services with.
type devServices struct {
	Ingest     ingest.Config
	Enrich     enrich.Config
	Fanout     fanout.Config
	Dispatcher dispatcher.Config
}

// devKafka is the Kafka configuration of every part of surge dev: the
// services' defaults on the given cluster, with dev's partitions and
// replication factor.
func devKafka(c devConfig, brokers []string) config.Kafka {
	k := serviceDefaults[config.Kafka]()
	k.Brokers, k.Partitions, k.ReplicationFactor = brokers, c.Partitions, c.ReplicationFactor
	return k
}

// newDevServices composes each service's configuration: its own
// defaults, with only devOverrides changed.
func newDevServices(c devConfig, kafka config.Kafka, registryURL, ingestAddr string) devServices {
	reg := config.Registry{URL: registryURL}

	in := serviceDefaults[ingest.Config]()
	in.Addr, in.Kafka, in.Registry, in.Log, in.InstanceID = ingestAddr, kafka, reg, c.Log, devInstanceID
	in.BodyDrain = c.BodyDrain

	en := serviceDefaults[enrich.Config]()
	en.Kafka, en.Registry, en.Log, en.Stall, en.InstanceID, en.MetricsAddr = kafka, reg, c.Log, c.Stall, devInstanceID, ""

	fo := serviceDefaults[fanout.Config]()
	fo.Kafka, fo.Registry, fo.Log, fo.Stall, fo.InstanceID, fo.MetricsAddr = kafka, reg, c.Log, c.Stall, devInstanceID, ""

	di := serviceDefaults[dispatcher.Config]()
	di.Kafka, di.Registry, di.Log, di.Stall, di.InstanceID, di.MetricsAddr = kafka, reg, c.Log, c.Stall, devInstanceID, ""
	di.AllowLoopback = true

	return devServices{Ingest: in, Enrich: en, Fanout: fo, Dispatcher: di}
}
