package main

import (
	"fmt"
	"net/http"

	"github.com/surgehq/surge/pkg/console"
)

// mountConsole serves the operator console under /console/ on mux, the
// admin listener's, as a client of the admin routes already on it.
func mountConsole(mux *http.ServeMux, token string) error {
	c, err := console.New(console.Config{Token: token, API: mux})
	if err != nil {
		return fmt.Errorf("starting the console: %w", err)
	}
	c.Mount(mux)
	return nil
}
