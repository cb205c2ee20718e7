package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedFilesAreCurrent fails when a schema or the generator changed
// and `go generate ./pkg/avrowire/` was not run.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	for _, b := range bindings {
		files, err := generate(b, filepath.Join(root, "schemas"))
		if err != nil {
			t.Fatalf("%s: %v", b.Package, err)
		}
		for name, want := range files {
			path := filepath.Join(root, b.Dir, name)
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale: run go generate ./pkg/avrowire/ and check in the result", path)
			}
		}
	}
}

func TestGoCase(t *testing.T) {
	for in, want := range map[string]string{
		"id": "ID", "entity_id": "EntityID", "timeout_ms": "TimeoutMS", "rate_limit_per_s": "RateLimitPerS",
		"cache_ttl_s": "CacheTTLS", "url": "URL", "next_attempt_at": "NextAttemptAt",
	} {
		if got := goCase(in); got != want {
			t.Errorf("goCase(%q) = %q, want %q", in, got, want)
		}
	}
}
