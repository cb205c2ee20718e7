package webhook

import (
	"net/http"

	"github.com/surgehq/surge/pkg/event"
)

// setBasicAuth sets the Authorization header of HTTP basic authentication
// (RFC 7617) on req, replacing any custom one.
func setBasicAuth(req *http.Request, b *event.BasicAuth) {
	req.Header.Del("Authorization")
	req.SetBasicAuth(b.Username, b.Password)
}
