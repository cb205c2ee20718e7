package catalog

import (
	"sort"
	"sync"
)

// SourceSet is a set of sources the admin API can change at run time. It
// is safe for concurrent use; the zero value is empty.
type SourceSet struct {
	mu      sync.RWMutex
	sources map[string]Source
}

// NewSourceSet returns a set holding srcs. It fails when one does not
// validate.
func NewSourceSet(srcs ...Source) (*SourceSet, error) {
	s := &SourceSet{}
	for _, src := range srcs {
		if err := s.Put(src); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Source implements Sources.
func (s *SourceSet) Source(id string) (Source, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	src, ok := s.sources[id]
	return src, ok
}

// Put adds src or replaces the source with its id, after validating it.
func (s *SourceSet) Put(src Source) error {
	if err := src.Validate(); err != nil {
		return err
	}
	src = src.clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sources == nil {
		s.sources = map[string]Source{}
	}
	s.sources[src.ID] = src
	return nil
}

// Delete removes the source with id and reports whether it existed.
func (s *SourceSet) Delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sources[id]
	delete(s.sources, id)
	return ok
}

// List returns every source, sorted by id, secrets included; use
// Source.Redacted before showing them.
func (s *SourceSet) List() []Source {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Source, 0, len(s.sources))
	for _, src := range s.sources {
		out = append(out, src)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// clone copies the source's pointer and map fields, so a stored source
// shares nothing with its caller.
func (s Source) clone() Source {
	if s.Signature != nil {
		sig := *s.Signature
		s.Signature = &sig
	}
	if s.Loaders != nil {
		loaders := make(map[string]Loader, len(s.Loaders))
		for e, l := range s.Loaders {
			if l.Headers != nil {
				h := make(map[string]string, len(l.Headers))
				for k, v := range l.Headers {
					h[k] = v
				}
				l.Headers = h
			}
			loaders[e] = l
		}
		s.Loaders = loaders
	}
	if s.Identity != nil {
		rules := make(map[string]IdentityRule, len(s.Identity))
		for e, r := range s.Identity {
			rules[e] = r
		}
		s.Identity = rules
	}
	return s
}
