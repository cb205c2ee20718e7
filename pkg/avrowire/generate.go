package avrowire

// The Go form of the records of schemas/*.avsc: run after changing a
// schema, and check in what it writes (docs/architecture.md).
//go:generate go run ./avrogen -root ../..
