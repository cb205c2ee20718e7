package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
)

func subPath(id string) string { return "/v1/subscriptions/" + url.PathEscape(id) }

// subsClient calls the admin API.
type subsClient struct {
	base  string
	token string
	http  *http.Client
}

func newSubsClient(o subsOptions) (*subsClient, error) {
	base := strings.TrimRight(o.AdminAddr, "/")
	if !strings.Contains(base, "://") {
		if err := config.ValidateAddr("admin-addr", base); err != nil {
			return nil, cli.ConfigError{Err: err}
		}
		base = "http://" + base
	} else if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, cli.ConfigError{Err: fmt.Errorf("SURGE_ADMIN_ADDR (--admin-addr): %q is neither host:port nor an http(s) URL", o.AdminAddr)}
	}
	token := strings.TrimSpace(o.AdminToken)
	if token == "" {
		path := filepath.Join(o.DataDir, "admin-token")
		b, err := os.ReadFile(path)
		if err != nil || strings.TrimSpace(string(b)) == "" {
			why := "it is empty"
			if err != nil {
				why = err.Error()
			}
			return nil, cli.ConfigError{Err: fmt.Errorf("no admin token: --admin-token and SURGE_ADMIN_TOKEN are not set, and %s cannot be read (%s). "+
				"`surge dev` writes its token there; point --data-dir at surge dev's data directory, or pass the admin API's token with --admin-token", path, why)}
		}
		token = strings.TrimSpace(string(b))
	}
	return &subsClient{base: base, token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// apiError is an error answer of the admin API.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *apiError) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	if e.Status == http.StatusUnauthorized {
		msg += "; the token comes from --admin-token, SURGE_ADMIN_TOKEN or <data-dir>/admin-token"
	}
	return msg
}

// do sends one request and returns the body of a 2xx answer; any other
// answer is an *apiError.
func (c *subsClient) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the admin API at %s: %w (is surge dev running? see --admin-addr)", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the admin API's answer: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return raw, nil
	}
	var e struct {
		Error struct {
			Code, Message, Field string
		} `json:"error"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Error.Message == "" {
		return nil, &apiError{Status: resp.StatusCode, Message: fmt.Sprintf("the admin API answered %s: %s", resp.Status, oneLine(string(raw), 200))}
	}
	return nil, &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, Field: e.Error.Field}
}
