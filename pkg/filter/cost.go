package filter

import "cel.dev/cel-go/common/cost"

// CEL's cost tracking triples the time of a small evaluation, and most
// filters need none: CEL's static estimate bounds their cost once the
// sizes of the body's lists and strings are known. Compile estimates with
// the sizes below; when the maximum stays within MaxCost, Match evaluates
// untracked every body that is within them (withinHints) and tracked the
// rest. A filter whose cost depends on data (a comprehension over
// data.items, a regular expression on a data string) is always tracked, as
// data's sizes are unknown.
const (
	// maxHintChanges is the longest changes list the estimate assumes.
	maxHintChanges = 1024
	// maxHintString is the longest id, type, source, entity.type and
	// entity.id the estimate assumes, in bytes (CEL sizes strings in code
	// points, never more than bytes).
	maxHintString = 1024
)

// sizeHints gives CEL's cost estimator the sizes withinHints checks.
type sizeHints struct{}

func (sizeHints) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	hint := &cost.SizeEstimate{Min: 0, Max: maxHintString}
	switch p := n.Path(); {
	case len(p) == 1 && p[0] == "changes":
		return &cost.SizeEstimate{Min: 0, Max: maxHintChanges}
	case len(p) == 1 && (p[0] == "id" || p[0] == "type" || p[0] == "source"):
		return hint
	case len(p) == 2 && p[0] == "entity" && (p[1] == "type" || p[1] == "id"):
		return hint
	}
	return nil
}

func (sizeHints) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// withinHints reports whether b is within the sizes sizeHints assumes.
func withinHints(b *Body) bool {
	return len(b.Changes) <= maxHintChanges &&
		len(b.ID) <= maxHintString && len(b.Type) <= maxHintString && len(b.Source) <= maxHintString &&
		len(b.Entity.Type) <= maxHintString && len(b.Entity.ID) <= maxHintString
}
