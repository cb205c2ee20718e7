package tracing

import (
	"context"
	"strings"
	"testing"
)

func TestEnabledOnlyWithAnEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"the general endpoint", map[string]string{EnvEndpoint: "http://127.0.0.1:4318"}, true},
		{"the traces endpoint", map[string]string{EnvTracesEndpoint: "http://127.0.0.1:4318/v1/traces"}, true},
		{"blank endpoint", map[string]string{EnvEndpoint: "  "}, false},
		{"SDK disabled", map[string]string{EnvEndpoint: "http://127.0.0.1:4318", EnvSDKDisabled: "TRUE"}, false},
		{"exporter none", map[string]string{EnvEndpoint: "http://127.0.0.1:4318", EnvTracesExporter: "none"}, false},
		{"exporter otlp", map[string]string{EnvEndpoint: "http://127.0.0.1:4318", EnvTracesExporter: "otlp"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := enabled(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("enabled = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantOn  bool
		wantErr string
	}{
		{name: "off", env: map[string]string{EnvEndpoint: ""}},
		{name: "http/protobuf by default", env: map[string]string{EnvEndpoint: "http://127.0.0.1:1"}, wantOn: true},
		{name: "grpc", env: map[string]string{EnvEndpoint: "http://127.0.0.1:1", EnvProtocol: "grpc"}, wantOn: true},
		{name: "the traces protocol wins", env: map[string]string{EnvEndpoint: "http://127.0.0.1:1", EnvProtocol: "bogus", EnvTracesProtocol: "http/protobuf"}, wantOn: true},
		{name: "an unknown protocol", env: map[string]string{EnvEndpoint: "http://127.0.0.1:1", EnvProtocol: "http/json"}, wantErr: EnvProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{EnvEndpoint, EnvTracesEndpoint, EnvProtocol, EnvTracesProtocol, EnvSDKDisabled, EnvTracesExporter} {
				t.Setenv(k, tc.env[k])
			}
			p, err := FromEnv(context.Background(), "surge-test")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = p.Shutdown(context.Background()) }()
			if on := p != nil && p.Tracer() != nil; on != tc.wantOn {
				t.Errorf("on = %v, want %v", on, tc.wantOn)
			}
		})
	}
}

func TestAnOffProviderIsNil(t *testing.T) {
	var p *Provider
	if p.Tracer() != nil || p.Shutdown(context.Background()) != nil || New(nil) != nil {
		t.Error("a nil Provider traces")
	}
}
