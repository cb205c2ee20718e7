package admin

import "strings"

// readAsJSON reports whether a request body of media type mt is read as
// JSON: application/json, any application/*+json, and
// application/x-www-form-urlencoded. The last is curl's default for -d,
// which operators' scripts send with a JSON body as they do to ingest; the
// body is parsed as JSON all the same, so a real form body is a 400, not
// data taken some other way.
func readAsJSON(mt string) bool {
	switch {
	case mt == "application/json", mt == "application/x-www-form-urlencoded":
		return true
	default:
		return strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
	}
}
