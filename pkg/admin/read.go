package admin

import (
	"net/http"

	"github.com/surgehq/surge/pkg/httpx"
)

// What the read routes share: their handlers return the answer, which
// okJSON writes.

// readFunc serves a route that only reads: what it returns is the 200
// answer's JSON, or the error written as handlerFunc's are.
type readFunc func(r *http.Request) (any, error)

// okJSON serves f's value as a 200 with its JSON.
func okJSON(f readFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := f(r)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, v)
		return nil
	}
}

// lookup is the value st holds under key, or the 404 naming noun.
func lookup[V any](st Store[V], noun, key string) (V, error) {
	v, ok := st.Get(key)
	if !ok {
		return v, notFound(noun, key)
	}
	return v, nil
}

// listOf is f of each of vs, in order; an empty slice rather than nil when
// there are none, so that a list answers [] and not null.
func listOf[V, T any](vs []V, f func(V) T) []T {
	out := make([]T, 0, len(vs))
	for _, v := range vs {
		out = append(out, f(v))
	}
	return out
}

// orEmpty is s, or an empty slice when s is nil (see listOf).
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
