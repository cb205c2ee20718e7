package filter

import (
	"reflect"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// activation resolves a filter's variables straight from the Body, so an
// evaluation builds no map of variables; CEL only asks for the names the
// expression uses.
type activation Body

var _ interpreter.Activation = (*activation)(nil)

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "id":
		return types.String(a.ID), true
	case "type":
		return types.String(a.Type), true
	case "source":
		return types.String(a.Source), true
	case "time":
		return types.Timestamp{Time: a.Time}, true
	case "entity":
		return entityVal{&a.Entity}, true
	case "data":
		if a.Data == nil {
			return types.NullValue, true
		}
		return a.Data, true // CEL adapts JSON's maps, slices and scalars itself
	case "changes":
		return changesVal{&a.Changes}, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// entityVal is the entity as a CEL map(string, dyn) of its three fields,
// without building a Go map: field selection (entity.type) goes through
// FindStringKey or Find; the rarer whole-map operations (equality,
// iteration, conversion) build the map.
//
// It is a struct of one pointer, which an interface holds without
// allocating.
type entityVal struct{ e *Entity }

var _ traits.Mapper = entityVal{}

func (v entityVal) field(key string) (ref.Val, bool) {
	switch key {
	case "type":
		return types.String(v.e.Type), true
	case "id":
		return types.String(v.e.ID), true
	case "version":
		return types.Int(v.e.Version), true
	}
	return nil, false
}

// FindStringKey is the interpreter's fast path for selecting a field of a
// map by a constant name.
func (v entityVal) FindStringKey(key string) (any, bool) { return v.field(key) }

func (v entityVal) Find(key ref.Val) (ref.Val, bool) {
	if k, ok := key.(types.String); ok {
		if val, found := v.field(string(k)); found {
			return val, true
		}
	}
	return v.mapper().Find(key)
}

func (v entityVal) Get(key ref.Val) ref.Val {
	if k, ok := key.(types.String); ok {
		if val, found := v.field(string(k)); found {
			return val
		}
	}
	return v.mapper().Get(key)
}

func (v entityVal) native() map[string]any {
	return map[string]any{"type": v.e.Type, "id": v.e.ID, "version": v.e.Version}
}

func (v entityVal) mapper() traits.Mapper {
	return types.NewStringInterfaceMap(types.DefaultTypeAdapter, v.native())
}

func (v entityVal) Contains(key ref.Val) ref.Val { return v.mapper().Contains(key) }
func (v entityVal) Iterator() traits.Iterator    { return v.mapper().Iterator() }
func (v entityVal) Size() ref.Val                { return types.Int(3) }
func (v entityVal) Equal(other ref.Val) ref.Val  { return v.mapper().Equal(other) }
func (v entityVal) Type() ref.Type               { return types.MapType }
func (v entityVal) Value() any                   { return v.native() }

func (v entityVal) ConvertToNative(t reflect.Type) (any, error) {
	return v.mapper().ConvertToNative(t)
}

func (v entityVal) ConvertToType(t ref.Type) ref.Val { return v.mapper().ConvertToType(t) }

// changesVal is the changes list as a CEL list(string) without wrapping the
// slice per evaluation: membership ("status" in changes), indexing and size
// read the slice; the rarer operations (iteration, equality, concatenation,
// conversion) wrap it. Like entityVal, it is one pointer.
type changesVal struct{ c *[]string }

var _ traits.Lister = changesVal{}

func (v changesVal) list() traits.Lister { return types.NewStringList(types.DefaultTypeAdapter, *v.c) }

func (v changesVal) Contains(elem ref.Val) ref.Val {
	s, ok := elem.(types.String)
	if !ok {
		return v.list().Contains(elem)
	}
	for _, c := range *v.c {
		if c == string(s) {
			return types.True
		}
	}
	return types.False
}

func (v changesVal) Get(index ref.Val) ref.Val {
	if i, ok := index.(types.Int); ok && i >= 0 && int64(i) < int64(len(*v.c)) {
		return types.String((*v.c)[i])
	}
	return v.list().Get(index)
}

func (v changesVal) Size() ref.Val                    { return types.Int(len(*v.c)) }
func (v changesVal) Add(other ref.Val) ref.Val        { return v.list().Add(other) }
func (v changesVal) Iterator() traits.Iterator        { return v.list().Iterator() }
func (v changesVal) Equal(other ref.Val) ref.Val      { return v.list().Equal(other) }
func (v changesVal) Type() ref.Type                   { return types.ListType }
func (v changesVal) Value() any                       { return *v.c }
func (v changesVal) ConvertToType(t ref.Type) ref.Val { return v.list().ConvertToType(t) }

func (v changesVal) ConvertToNative(t reflect.Type) (any, error) {
	return v.list().ConvertToNative(t)
}
