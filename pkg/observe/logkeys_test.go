package observe

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestLogKeysAreDistinctAndNeverRedacted(t *testing.T) {
	keys := []string{KeyEventID, KeyEventType, KeyTopic, KeyPartition, KeyOffset, KeyRecordKey, KeyEntity, KeyDeliveryID,
		KeySubscriptionID, KeySourceID, KeyReplayID, KeyStage, KeyInstanceID, KeyRoute,
		KeyErrorClass, KeyAttempts, KeyStatus, KeyReason, KeyTook, KeyAddr, KeyMetricsAddr, KeyListener}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("two constants spell %q", k)
		}
		seen[k] = true
		if IsSecretKey(k) {
			t.Errorf("%q is named like a secret: its values would be redacted", k)
		}
	}
}

// TestLogKeysAreSpelledOnce scans Surge's production code for a zap field
// that spells one of the keys above, or a drifted spelling of one, as a
// string literal: each must be the constant, so a renamed key changes
// everywhere at once.
func TestLogKeysAreSpelledOnce(t *testing.T) {
	banned := map[string]string{
		// drifted spellings of what a constant names
		"subscription": "KeySubscriptionID constant", "class": "KeyErrorClass constant", "why": "KeyReason constant",
		"attempt": "KeyAttempts constant", "try": "KeyAttempts constant", "tries": "KeyAttempts constant",
	}
	for _, k := range []string{KeyEventID, KeyEventType, KeyTopic, KeyPartition, KeyOffset, KeyRecordKey, KeyEntity, KeyDeliveryID,
		KeySubscriptionID, KeySourceID, KeyReplayID, KeyStage, KeyInstanceID, KeyRoute,
		KeyErrorClass, KeyAttempts, KeyStatus, KeyReason, KeyTook, KeyAddr, KeyMetricsAddr, KeyListener} {
		banned[k] = "Key* constant that spells it"
	}
	field := regexp.MustCompile(`\bzap\.\w+\("(\w+)"`)
	root := filepath.Join("..", "..")
	scanned := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		for i, line := range strings.Split(string(src), "\n") {
			for _, m := range field.FindAllStringSubmatch(line, -1) {
				if want, ok := banned[m[1]]; ok {
					t.Errorf("%s:%d: log key %q written as a literal; use the observe.%s", path, i+1, m[1], want)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 100 {
		t.Fatalf("scanned %d Go files under %s; expected the whole repository", scanned, root)
	}
}
