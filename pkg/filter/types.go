package filter

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/surgehq/surge/pkg/catalog"
)

// typeNameRE is the grammar of canonical event type names, the catalog's:
// lower-case dotted words of a-z, 0-9, '_' and '-'.
var typeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$`)

// maxPatternLen bounds a pattern: the catalog's longest type name (128)
// plus ".*".
const maxPatternLen = 130

// ValidatePattern checks one event-type pattern: "*" (every type), a prefix
// ending in ".*" ("order.*": every type starting with "order.") or an exact
// type name ("order.placed"). Names are lower-case dotted words of a-z, 0-9,
// '_' and '-', as in the catalog; '*' may only stand for the last word(s).
func ValidatePattern(p string) error {
	if p == "*" {
		return nil
	}
	name, wildcard := strings.CutSuffix(p, ".*")
	switch {
	case p == "":
		return errors.New(`event type pattern is empty; use "*" for every type`)
	case len(p) > maxPatternLen:
		return fmt.Errorf("event type pattern %.20q... is longer than %d characters", p, maxPatternLen)
	case strings.Contains(name, "*"):
		return fmt.Errorf(`event type pattern %q: '*' may only be the whole pattern or its last word, as in "order.*"`, p)
	case strings.HasSuffix(p, "."):
		return fmt.Errorf(`event type pattern %q ends with '.'; for every type under it write %q`, p, p+"*")
	case !typeNameRE.MatchString(name):
		what := "type name"
		if wildcard {
			what = "prefix"
		}
		return fmt.Errorf("event type pattern %q: the %s must be lower-case dotted words of a-z, 0-9, '_' and '-'", p, what)
	}
	return nil
}

// Types is a compiled set of event-type patterns. It is immutable and safe
// for concurrent use; the zero value and nil match nothing.
type Types struct {
	all      bool
	exact    map[string]struct{}
	prefixes []string // "order." for "order.*"
}

// CompileTypes validates and compiles patterns. An error names every bad
// pattern. An empty list matches nothing.
func CompileTypes(patterns []string) (*Types, error) {
	t := &Types{}
	var errs []error
	for _, p := range patterns {
		if err := ValidatePattern(p); err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case p == "*":
			t.all = true
		case strings.HasSuffix(p, ".*"):
			t.prefixes = append(t.prefixes, strings.TrimSuffix(p, "*"))
		default:
			if t.exact == nil {
				t.exact = make(map[string]struct{}, len(patterns))
			}
			t.exact[p] = struct{}{}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// Match reports whether eventType matches one of the patterns. A nil
// *Types matches nothing. "*" matches every type but Surge's operator
// events (catalog.ReservedPrefix, "surge."): a subscription to every
// commerce event does not start receiving them; it asks for them with
// "surge.*" or their names.
func (t *Types) Match(eventType string) bool {
	if t == nil {
		return false
	}
	if t.all && !strings.HasPrefix(eventType, catalog.ReservedPrefix) {
		return true
	}
	if _, ok := t.exact[eventType]; ok {
		return true
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(eventType, p) {
			return true
		}
	}
	return false
}
