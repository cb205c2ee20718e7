package avroserde

// Generated is the code pkg/avrowire/avrogen writes for a record of the
// schemas module: its native conversions and its fast binary codec.
type Generated[T any] struct {
	Native     func(T) map[string]any
	FromNative func(any) (T, error)
	Append     func([]byte, T) []byte
	FromAvro   func([]byte) (T, error)
	// Check, when set, refuses a decoded value no Surge writer writes (an
	// empty id, say), whichever path decoded it.
	Check func(T) error
}

// NewGeneratedCodec returns the Codec of topic's values of the record of
// schema schema, from its generated code.
func NewGeneratedCodec[T any](reg *Registry, topic, schema string, g Generated[T]) *Codec[T] {
	fromNative, fromAvro := g.FromNative, g.FromAvro
	if g.Check != nil {
		fromNative, fromAvro = withCheck(fromNative, g.Check), withCheck(fromAvro, g.Check)
	}
	return NewCodec(reg, topic, schema, g.Native, fromNative).WithFast(g.Append, fromAvro)
}

// withCheck is decode followed by check.
func withCheck[In, T any](decode func(In) (T, error), check func(T) error) func(In) (T, error) {
	return func(in In) (T, error) {
		v, err := decode(in)
		if err == nil {
			err = check(v)
		}
		if err != nil {
			var zero T
			return zero, err
		}
		return v, nil
	}
}
