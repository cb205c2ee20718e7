// Package filter owns how a subscription selects events: event-type patterns
// ("*", "order.*", "order.placed") and an optional CEL filter over the
// delivered webhook body.
//
// A filter is a CEL expression (https://cel.dev) over the body's top-level
// fields:
//
//	id       string
//	type     string
//	source   string
//	time     timestamp
//	entity   map: type (string), id (string), version (int)
//	data     dyn: the entity's JSON, parsed
//	changes  list of strings: the fields the event changed
//
// for example
//
//	type == "order.placed" && data.total > 100.0
//	"status" in changes
//	entity.type == "product" && has(data.qty) && data.qty < 5
//
// Numbers in data are JSON numbers (doubles); comparisons across numeric
// types are enabled, so data.total > 100 and data.total > 100.0 both work.
// Selecting a field data does not have (data.total on an order without a
// total) and comparing values of unrelated types (a string with a number)
// are evaluation errors: Match returns false and the error. Guard optional
// fields with has(): has(data.total) && data.total > 100. Timestamp
// functions (time.getHours()) work in UTC unless given a time zone. Filters
// have CEL's standard library, no extensions.
//
// Limits keep one subscription from burning the fanout: an expression is at
// most MaxExprLen bytes, and one evaluation may spend at most MaxCost units
// of CEL's runtime cost (about one unit per operation, list and string
// operations by their size); an evaluation over the limit stops with an error
// wrapping ErrCostLimit. Compile rejects an expression that always costs
// more. Tracking the cost slows an evaluation down about threefold, so a
// filter whose cost CEL can bound statically (one that loops over nothing
// of unknown size in data) is evaluated untracked; see cost.go.
//
// Compile once (when a subscription is loaded or changed) and call Match per
// event; a Filter is immutable and safe for concurrent use. The package does
// no I/O.
package filter

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

const (
	// MaxExprLen is the longest filter expression Compile accepts, in bytes.
	MaxExprLen = 4 << 10
	// MaxCost bounds the CEL runtime cost of one evaluation. A comparison
	// or a field selection costs about one unit, so ordinary filters spend
	// well under a hundred; the limit leaves room for a filter that looks
	// through an order's few hundred items, and stops runaway comprehensions.
	MaxCost = 10_000
)

// ErrCostLimit is wrapped by Match's error when an evaluation exceeded
// MaxCost.
var ErrCostLimit = errors.New("filter: evaluation cost limit exceeded")

// Body is what a filter sees: the top-level fields of a delivered webhook
// body.
type Body struct {
	ID, Type, Source string
	Time             time.Time
	Entity           Entity
	// Data is the entity's JSON as encoding/json parses it into an any:
	// map[string]any, []any, float64, string, bool or nil.
	Data    any
	Changes []string
}

// Entity is the body's entity reference.
type Entity struct {
	Type, ID string
	Version  int64
}

// Filter is a compiled CEL filter. It is immutable and safe for concurrent
// use.
type Filter struct {
	src string
	// tracked counts the cost of every evaluation and stops at MaxCost.
	tracked cel.Program
	// bounded, when not nil, is the same program without cost tracking,
	// which makes an evaluation about three times as fast: the filter
	// provably costs at most MaxCost on a body within the size hints.
	bounded cel.Program
}

// CompileError is what Compile returns for a bad expression.
type CompileError struct {
	Line, Column int    // 1-based position of the first problem
	Message      string // CEL's message for it
	Expr         string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("filter: line %d, column %d: %s", e.Line, e.Column, e.Message)
}

// env is the CEL environment every filter is compiled in; cel.Env is safe
// for concurrent use.
var env = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("id", cel.StringType),
		cel.Variable("type", cel.StringType),
		cel.Variable("source", cel.StringType),
		cel.Variable("time", cel.TimestampType),
		cel.Variable("entity", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("data", cel.DynType),
		cel.Variable("changes", cel.ListType(cel.StringType)),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(MaxExprLen),
	)
})

// Compile parses and type-checks expr. An empty expr is an error (callers
// skip empty filters). A bad expression is a *CompileError: a syntax or type
// error, a result that is not a bool, an expression longer than MaxExprLen
// or one whose least possible cost exceeds MaxCost.
func Compile(expr string) (*Filter, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, &CompileError{Line: 1, Column: 1, Message: "the expression is empty", Expr: expr}
	}
	if len(expr) > MaxExprLen {
		line, col := position(expr, MaxExprLen)
		return nil, &CompileError{Line: line, Column: col, Expr: expr,
			Message: fmt.Sprintf("the expression is %d bytes long; the limit is %d", len(expr), MaxExprLen)}
	}
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("filter: building the CEL environment: %w", err)
	}
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, compileError(expr, iss.Errors())
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &CompileError{Line: 1, Column: 1, Expr: expr,
			Message: fmt.Sprintf("the expression gives %s; a filter must give bool", t)}
	}
	est, err := e.EstimateCost(ast, sizeHints{})
	if err != nil {
		return nil, fmt.Errorf("filter: estimating the cost of %q: %w", expr, err)
	}
	if est.Min > MaxCost {
		return nil, &CompileError{Line: 1, Column: 1, Expr: expr,
			Message: fmt.Sprintf("the expression costs at least %d to evaluate; the limit is %d", est.Min, MaxCost)}
	}
	f := &Filter{src: expr}
	f.tracked, err = plan(e, ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(MaxCost))
	if err == nil && est.Max <= MaxCost {
		f.bounded, err = plan(e, ast, cel.EvalOptions(cel.OptOptimize))
	}
	if err != nil {
		// Planning fails on what the checker let through, e.g. a
		// constant expression that errors when OptOptimize folds it.
		return nil, &CompileError{Line: 1, Column: 1, Message: err.Error(), Expr: expr}
	}
	return f, nil
}

// plan builds a CEL program. cel-go panics while folding some constant
// expressions the checker lets through (a map literal with a bytes key:
// `{b"k": 1}`, v0.33.2); evaluation recovers its own panics, planning
// does not, so plan turns one into an error for Compile to return.
func plan(e *cel.Env, ast *cel.Ast, opts ...cel.ProgramOption) (prg cel.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			prg, err = nil, fmt.Errorf("the expression cannot be planned: %v", r)
		}
	}()
	return e.Program(ast, opts...)
}

// compileError turns CEL's issues into a CompileError for the first one by
// position.
func compileError(expr string, errs []*common.Error) *CompileError {
	first := slices.MinFunc(errs, func(a, b *common.Error) int {
		return cmp.Or(cmp.Compare(a.Location.Line(), b.Location.Line()),
			cmp.Compare(a.Location.Column(), b.Location.Column()))
	})
	line, col := first.Location.Line(), first.Location.Column()+1 // CEL's columns are 0-based
	if line < 1 || col < 1 {
		line, col = 1, 1
	}
	return &CompileError{Line: line, Column: col, Message: first.Message, Expr: expr}
}

// position is the 1-based line and column (in characters, as CEL counts)
// of byte offset off in s.
func position(s string, off int) (line, col int) {
	for off > 0 && off < len(s) && !utf8.RuneStart(s[off]) {
		off--
	}
	before := s[:off]
	line = strings.Count(before, "\n") + 1
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, utf8.RuneCountInString(before) + 1
}

// Match evaluates the filter on one event body. An evaluation error (a
// missing field, a comparison of unrelated types, the cost limit) is
// returned with false.
func (f *Filter) Match(b *Body) (bool, error) {
	if b == nil {
		return false, errors.New("filter: no body")
	}
	prg := f.tracked
	if f.bounded != nil && withinHints(b) {
		prg = f.bounded
	}
	out, _, err := prg.Eval((*activation)(b))
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			return false, fmt.Errorf("%w (%d)", ErrCostLimit, MaxCost)
		}
		return false, fmt.Errorf("filter: evaluating: %w", err)
	}
	v, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("filter: the expression gave %s, not a bool", out.Type().TypeName())
	}
	return bool(v), nil
}

// String returns the source expression.
func (f *Filter) String() string { return f.src }
