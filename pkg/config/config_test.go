package config

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestBindEnvFlagWinsOverVariable(t *testing.T) {
	var k Kafka
	var addr string
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	k.Flags(fs)
	fs.StringVar(&addr, "ingest-addr", "127.0.0.1:8080", "")
	t.Setenv("SURGE_BROKERS", "a:1,b:2")
	t.Setenv("SURGE_INGEST_ADDR", "0.0.0.0:9999")
	t.Setenv("SURGE_PARTITIONS", "12")
	if err := fs.Parse([]string{"--partitions", "3"}); err != nil {
		t.Fatal(err)
	}
	if err := BindEnv(fs); err != nil {
		t.Fatal(err)
	}
	if strings.Join(k.Brokers, ",") != "a:1,b:2" || addr != "0.0.0.0:9999" {
		t.Errorf("variables not applied: brokers %v addr %s", k.Brokers, addr)
	}
	if k.Partitions != 3 {
		t.Errorf("partitions %d: the flag given on the command line must win", k.Partitions)
	}
}

func TestBindEnvNamesTheBadVariable(t *testing.T) {
	var k Kafka
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	k.Flags(fs)
	t.Setenv("SURGE_PARTITIONS", "many")
	_ = fs.Parse(nil)
	err := BindEnv(fs)
	if err == nil || !strings.Contains(err.Error(), "SURGE_PARTITIONS") {
		t.Fatalf("error %v does not name SURGE_PARTITIONS", err)
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	tests := []struct {
		name    string
		in      Kafka
		wantErr string
	}{
		{"ok", Kafka{Brokers: []string{"127.0.0.1:9092"}, Partitions: 6, ReplicationFactor: 1}, ""},
		{"no brokers", Kafka{Partitions: 6, ReplicationFactor: 1}, "SURGE_BROKERS (--brokers) is empty"},
		{"bad broker", Kafka{Brokers: []string{"localhost"}, Partitions: 6, ReplicationFactor: 1}, "is not host:port"},
		{"zero partitions", Kafka{Brokers: []string{"h:1"}, ReplicationFactor: 1}, "SURGE_PARTITIONS"},
		{"zero replication", Kafka{Brokers: []string{"h:1"}, Partitions: 1}, "SURGE_REPLICATION_FACTOR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	if err := (&Registry{URL: "ftp://x"}).Validate(); err == nil || !strings.Contains(err.Error(), "SURGE_REGISTRY") {
		t.Errorf("registry error %v", err)
	}
	if err := (&Log{Level: "loud"}).Validate(); err == nil || !strings.Contains(err.Error(), "SURGE_LOG_LEVEL") {
		t.Errorf("log error %v", err)
	}
}
