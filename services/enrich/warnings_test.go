package enrich

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestShownCutsOnACharacter(t *testing.T) {
	for _, raw := range []string{"", `"short"`, `"` + strings.Repeat("é", 30) + `"`, strings.Repeat("x", 100)} {
		got := shown([]byte(raw))
		if !utf8.ValidString(got) || len(got) > 40+len("…") || (raw != "" && !strings.HasPrefix(raw, strings.TrimSuffix(got, "…"))) {
			t.Errorf("shown(%q) = %q", raw, got)
		}
	}
	if shown(nil) != "nothing" {
		t.Errorf("shown(nil) = %q", shown(nil))
	}
}
