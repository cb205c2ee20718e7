package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// page is what every template gets: the layout's fields and the page's
// own data.
type page struct {
	Title   string
	Nav     string // which navigation entry is current
	CSRF    string // the session's CSRF token; empty when logged out
	Error   string
	Notice  string
	Refresh bool // the page reloads itself (static/refresh.js)
	Data    any
}

// pageNames are the templates, each with the layout around it.
var pageNames = []string{"login", "overview", "subscriptions", "subscription", "confirm-delete", "secret", "error", "notfound", "topics", "trace"}

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "-"
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		case *time.Time:
			if v == nil {
				return "-"
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		}
		return fmt.Sprint(t)
	},
	"join": strings.Join,
	"ms":   func(f float64) string { return fmt.Sprintf("%.1f ms", f) },
	"statusClass": func(status int32) string {
		switch {
		case status == 0:
			return "bad"
		case status < 300:
			return "good"
		case status < 500:
			return "bad"
		}
		return "warn"
	},
}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parsing the %s page: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render writes the page name with status.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) error {
	if s, ok := c.sessionOf(r); ok {
		p.CSRF = s.csrf
	}
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, p); err != nil {
		return fmt.Errorf("rendering the %s page: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// fail renders err as the error page, with the admin API's status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var ae *apiError
	if errors.As(err, &ae) {
		status = ae.Status
	}
	if rerr := c.render(w, r, status, "error", page{Title: http.StatusText(status), Error: err.Error()}); rerr != nil {
		http.Error(w, "the console could not render its error page", http.StatusInternalServerError)
	}
}
