// Package admintest holds hand-written fakes for tests of the admin API and
// of its clients: an in-memory Store with failure injection and a DNS
// resolver answering from a map.
package admintest

import (
	"context"
	"net"
	"sort"
	"sync"
)

// Store is an in-memory admin.Store. It is safe for concurrent use. Put
// and Delete fail with Fail's error while it is set, changing nothing.
type Store[V any] struct {
	mu     sync.Mutex
	m      map[string]V
	fail   error
	hang   bool
	writes int
}

// NewStore returns an empty store.
func NewStore[V any]() *Store[V] { return &Store[V]{m: map[string]V{}} }

// Get returns the value of key.
func (s *Store[V]) Get(key string) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok
}

// List returns every value, sorted by key.
func (s *Store[V]) List() []V {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]V, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.m[k])
	}
	return out
}

// Put stores v under key, or fails with the injected error, or hangs.
func (s *Store[V]) Put(ctx context.Context, key string, v V) error {
	return s.write(ctx, func() { s.m[key] = v })
}

// Delete removes key, or fails with the injected error, or hangs.
func (s *Store[V]) Delete(ctx context.Context, key string) error {
	return s.write(ctx, func() { delete(s.m, key) })
}

func (s *Store[V]) write(ctx context.Context, apply func()) error {
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	apply()
	s.writes++
	return nil
}

// Hang makes every following Put and Delete wait for its context to end
// and return its error, as a write to an unreachable broker does; false
// heals.
func (s *Store[V]) Hang(hang bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = hang
}

// Fail makes every following Put and Delete return err; nil heals.
func (s *Store[V]) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Writes counts the successful Puts and Deletes.
func (s *Store[V]) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Resolver answers LookupIPAddr from a map of host → addresses; any other
// host is "no such host", as for a name that does not exist.
type Resolver map[string][]string

// LookupIPAddr implements subscription.Resolver.
func (r Resolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, 0, len(ips))
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}
