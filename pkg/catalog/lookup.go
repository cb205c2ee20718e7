package catalog

// Sources looks up a source's settings by id. Implementations must be safe
// for concurrent use; the admin API will change them at run time.
type Sources interface {
	Source(id string) (Source, bool)
}

// StaticSources is a fixed set of sources, keyed by id.
type StaticSources map[string]Source

// Source implements Sources.
func (s StaticSources) Source(id string) (Source, bool) {
	src, ok := s[id]
	return src, ok
}
