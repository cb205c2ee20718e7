package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/subscription"
)

// subsOptions are the flags every `surge subs` command shares: where the
// admin API is and how to print.
type subsOptions struct {
	AdminAddr  string
	AdminToken string
	DataDir    string
	JSON       bool
}

// subsConnFlags are the shared flags that also read SURGE_* variables.
// The create/update flags deliberately do not: an exported variable must
// never silently change a subscription.
var subsConnFlags = []string{"admin-addr", "admin-token", "data-dir"}

func newSubsCommand() *cobra.Command {
	var o subsOptions
	cmd := &cobra.Command{
		Use:   "subs",
		Short: "Manage webhook subscriptions through the admin API",
		Long: `Create, list, change, pause and delete webhook subscriptions through the
admin API. With no flags it talks to a surge dev on this machine, with the
token surge dev keeps in <data-dir>/admin-token.

--admin-addr, --admin-token and --data-dir also read SURGE_ADMIN_ADDR,
SURGE_ADMIN_TOKEN and SURGE_DATA_DIR; a flag wins over the variable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.AdminAddr, "admin-addr", "127.0.0.1:8081", "admin API address, host:port or a URL")
	pf.StringVar(&o.AdminToken, "admin-token", "", "admin API bearer token (default: read <data-dir>/admin-token)")
	pf.StringVar(&o.DataDir, "data-dir", "./.surge", "surge dev's data directory, where the admin token is kept")
	pf.BoolVar(&o.JSON, "json", false, "print the API's JSON instead of a table")

	client := func(cmd *cobra.Command) (*subsClient, error) {
		fs := pflag.NewFlagSet("subs", pflag.ContinueOnError)
		for _, name := range subsConnFlags {
			if f := cmd.Flags().Lookup(name); f != nil {
				fs.AddFlag(f)
			}
		}
		if err := config.BindEnv(fs); err != nil {
			return nil, cli.ConfigError{Err: err}
		}
		return newSubsClient(o)
	}
	cmd.AddCommand(
		newSubsCreateCommand(&o, client),
		newSubsListCommand(&o, client),
		newSubsGetCommand(&o, client),
		newSubsUpdateCommand(&o, client),
		newSubsDeleteCommand(&o, client),
		newSubsRotateCommand(&o, client),
		newSubsRevokeCommand(&o, client),
		newSubsPauseCommand(&o, client, "pause", true),
		newSubsPauseCommand(&o, client, "resume", false),
	)
	return cmd
}

type clientFunc func(cmd *cobra.Command) (*subsClient, error)

// subFlags are the create/update flags.
type subFlags struct {
	URL           string
	EventTypes    []string
	Filter        string
	Headers       []string
	Timeout       time.Duration
	RateLimit     float64
	MaxInFlight   int32
	RetrySchedule []string
	Description   string
	AllowPrivate  bool
	Disabled      bool
}

func (f *subFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.URL, "url", "", "target URL the webhooks are POSTed to")
	fs.StringSliceVar(&f.EventTypes, "event-type", nil, `event type pattern: "*", "order.*" or an exact name (repeatable, or comma separated)`)
	fs.StringVar(&f.Filter, "filter", "", `CEL filter over the delivered body, e.g. 'type == "order.placed" && data.total > 100.0'`)
	fs.StringArrayVar(&f.Headers, "header", nil, "extra header K=V sent with every delivery (repeatable; update replaces the whole set)")
	fs.DurationVar(&f.Timeout, "timeout", 0, "per-request timeout, 100ms to 60s (0: the dispatcher's default)")
	fs.Float64Var(&f.RateLimit, "rate-limit", 0, "deliveries per second to this endpoint (0: unlimited)")
	fs.Int32Var(&f.MaxInFlight, "max-in-flight", 0, "concurrent requests to this endpoint, up to 1000 (0: the dispatcher's default)")
	fs.StringSliceVar(&f.RetrySchedule, "retry-schedule", nil, "waits before each retry, e.g. 5s,30s,2m (empty: the dispatcher's default)")
	fs.StringVar(&f.Description, "description", "", "free text for operators")
	fs.BoolVar(&f.AllowPrivate, "allow-private", false, "allow a target on a private, loopback or link-local address")
	fs.BoolVar(&f.Disabled, "disabled", false, "disable the subscription: its deliveries are held (update --disabled=false enables it)")
}

// body is the JSON of the flags given on the command line, and only
// those: a create leaves the rest to the server's defaults, an update
// (PATCH) changes only them.
func (f *subFlags) body(fs *pflag.FlagSet) (map[string]any, error) {
	b := map[string]any{}
	set := func(flag, field string, v any) {
		if fs.Changed(flag) {
			b[field] = v
		}
	}
	set("url", "url", f.URL)
	var types []string
	for _, t := range f.EventTypes {
		if t = strings.TrimSpace(t); t != "" {
			types = append(types, t)
		}
	}
	set("event-type", "event_types", nonNil(types))
	set("filter", "filter", f.Filter)
	if fs.Changed("header") {
		h := map[string]string{}
		for _, kv := range f.Headers {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("--header %q: want NAME=VALUE", kv)
			}
			h[strings.TrimSpace(k)] = v
		}
		b["headers"] = h
	}
	if fs.Changed("timeout") {
		if f.Timeout%time.Millisecond != 0 {
			return nil, fmt.Errorf("--timeout %s: give whole milliseconds", f.Timeout)
		}
		b["timeout_ms"] = f.Timeout.Milliseconds()
	}
	set("rate-limit", "rate_limit_per_s", f.RateLimit)
	set("max-in-flight", "max_in_flight", f.MaxInFlight)
	var waits []string
	for _, w := range f.RetrySchedule {
		if w = strings.TrimSpace(w); w != "" {
			waits = append(waits, w)
		}
	}
	set("retry-schedule", "retry_schedule", nonNil(waits))
	set("description", "description", f.Description)
	set("allow-private", "allow_private", f.AllowPrivate)
	set("disabled", "enabled", !f.Disabled)
	return b, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newSubsCreateCommand(o *subsOptions, client clientFunc) *cobra.Command {
	var f subFlags
	cmd := &cobra.Command{
		Use:   "create --url URL --event-type PATTERN [flags]",
		Short: "Create a subscription and print its signing secret (shown once)",
		Example: `  surge subs create --url https://erp.example.com/hooks --event-type 'order.*' \
    --filter 'data.total > 100.0' --header 'X-Api-Key=abc' --retry-schedule 5s,30s,2m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			body, err := f.body(cmd.Flags())
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodPost, "/v1/subscriptions", body)
			if err != nil {
				return err
			}
			return printSub(cmd.OutOrStdout(), o, raw, func(w io.Writer, v subscription.View) {
				fmt.Fprintf(w, "\nSigning secret: %s\n", v.Secret)
				fmt.Fprintf(w, "Store it now: it will not be shown again. `surge subs rotate-secret %s` makes a new one.\n", v.ID)
			})
		},
	}
	f.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("url")
	_ = cmd.MarkFlagRequired("event-type")
	return cmd
}

func newSubsUpdateCommand(o *subsOptions, client clientFunc) *cobra.Command {
	var f subFlags
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change the given fields of a subscription; the others stay as they are",
		Example: `  surge subs update sub_2pQ4... --filter 'data.total > 50.0'
  surge subs update sub_2pQ4... --disabled=false`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := f.body(cmd.Flags())
			if err != nil {
				return err
			}
			if len(body) == 0 {
				return errors.New("nothing to update: give at least one of --url, --event-type, --filter, --header, --timeout, --rate-limit, --max-in-flight, --retry-schedule, --description, --allow-private, --disabled")
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodPatch, subPath(args[0]), body)
			if err != nil {
				return err
			}
			return printSub(cmd.OutOrStdout(), o, raw, nil)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func newSubsPauseCommand(o *subsOptions, client clientFunc, verb string, paused bool) *cobra.Command {
	short := "Hold a subscription's deliveries until it is resumed"
	if !paused {
		short = "Resume a paused subscription's deliveries"
	}
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodPatch, subPath(args[0]), map[string]any{"paused": paused})
			if err != nil {
				return err
			}
			return printSub(cmd.OutOrStdout(), o, raw, nil)
		},
	}
}

func newSubsListCommand(o *subsOptions, client clientFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List subscriptions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodGet, "/v1/subscriptions", nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.JSON {
				_, err := out.Write(raw)
				return err
			}
			var list struct {
				Subscriptions []subscription.View `json:"subscriptions"`
			}
			if err := json.Unmarshal(raw, &list); err != nil {
				return fmt.Errorf("reading the admin API's answer: %w", err)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tEVENT TYPES\tURL\tDESCRIPTION")
			for _, s := range list.Subscriptions {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, state(s), strings.Join(s.EventTypes, ","), s.URL, oneLine(s.Description, 40))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(list.Subscriptions) == 0 {
				fmt.Fprintln(out, "(no subscriptions; create one with `surge subs create`)")
			}
			return nil
		},
	}
}

func newSubsGetCommand(o *subsOptions, client clientFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a subscription (secrets as fingerprints) and its backlog in the dispatchers",
		Long: `Show a subscription, its signing secrets as fingerprints, and what waits
for it in the dispatchers: deliveries held in memory and in the retry
topic, the age of the oldest, and the deliveries finished per second
(its endpoint's throughput), summed over every dispatcher instance's
report in commerce.backlog that is fresh (at most four --backlog-every
old; a killed instance's last report stops counting then). "none" when
nothing waits. docs/runbook.md says what to do about a backlog.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodGet, subPath(args[0]), nil)
			if err != nil {
				return err
			}
			return printSub(cmd.OutOrStdout(), o, raw, nil)
		},
	}
}

func newSubsDeleteCommand(o *subsOptions, client clientFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a subscription",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			if _, err := c.do(cmd.Context(), http.MethodDelete, subPath(args[0]), nil); err != nil {
				return err
			}
			if !o.JSON {
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			}
			return nil
		},
	}
}

func newSubsRotateCommand(o *subsOptions, client clientFunc) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "rotate-secret ID [--grace DURATION]",
		Short: "Make a new signing secret; the previous ones keep signing for a grace period (--grace 0s: not at all)",
		Long: `Make a new signing secret, shown once. The secrets it replaces keep signing
next to it for --grace (the admin API's default, 24h, when not given), so
receivers can switch without rejecting a delivery; --grace 0s stops them at
once (a leaked secret). At most ` + fmt.Sprint(subscription.MaxPreviousSecrets) + ` previous secrets sign; the oldest drops first.`,
		Example: `  surge subs rotate-secret sub_2pQ4...
  surge subs rotate-secret sub_2pQ4... --grace 1h
  surge subs rotate-secret sub_2pQ4... --grace 0s   # the old secret stops signing now`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body any
			if cmd.Flags().Changed("grace") {
				if grace < 0 {
					return fmt.Errorf("--grace %s: give 0s or more", grace)
				}
				body = map[string]any{"grace": grace.String()}
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodPost, subPath(args[0])+"/rotate-secret", body)
			if err != nil {
				return err
			}
			return printSub(cmd.OutOrStdout(), o, raw, func(w io.Writer, v subscription.View) {
				fmt.Fprintf(w, "\nNew signing secret: %s\n", v.Secret)
				fmt.Fprintln(w, "Store it now: it will not be shown again.")
				switch {
				case len(v.Secrets) == 1:
					fmt.Fprintln(w, "No previous secret signs any more: deliveries carry the new secret's signature only.")
				case v.Secrets[1].ExpiresAt != nil:
					fmt.Fprintf(w, "The previous secret keeps signing until %s; deliveries carry a signature for each signing secret.\n", v.Secrets[1].ExpiresAt.Format(time.RFC3339))
				}
			})
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", 0, "how long the previous secrets keep signing, 0s to 168h (default: the admin API's, 24h)")
	return cmd
}

func newSubsRevokeCommand(o *subsOptions, client clientFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke-secret ID FINGERPRINT",
		Short: "Stop a previous signing secret, named by its fingerprint (surge subs get lists them)",
		Long: `Remove one previous signing secret from the subscription: no delivery,
first attempt or retry, is signed with it from the dispatcher's next
refresh of its subscriptions table on (within about a second). FINGERPRINT
is the one surge subs get lists (sha256: and 12 hex digits: the start of
the SHA-256 of the whole secret text). The current secret cannot be
revoked: rotate-secret --grace 0s replaces it at once.`,
		Example: `  surge subs get sub_2pQ4...
  surge subs revoke-secret sub_2pQ4... sha256:96ad2ccd8146`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodPost, subPath(args[0])+"/revoke-secret", map[string]any{"fingerprint": args[1]})
			if err != nil {
				return err
			}
			if err := printSub(cmd.OutOrStdout(), o, raw, nil); err != nil {
				return err
			}
			if !o.JSON {
				fmt.Fprintf(cmd.OutOrStdout(), "\nRevoked %s: it signs no delivery from the dispatcher's next table refresh on.\n", args[1])
			}
			return nil
		},
	}
}

func subPath(id string) string { return "/v1/subscriptions/" + url.PathEscape(id) }

// printSub prints one subscription: the API's JSON with --json, else a
// table for people, then extra (the secret of a create or a rotation).
func printSub(out io.Writer, o *subsOptions, raw []byte, extra func(io.Writer, subscription.View)) error {
	if o.JSON {
		_, err := out.Write(raw)
		return err
	}
	var v subscription.View
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("reading the admin API's answer: %w", err)
	}
	var withBacklog struct {
		Backlog *backlog.Summary `json:"backlog"` // GET only
	}
	if err := json.Unmarshal(raw, &withBacklog); err != nil {
		return fmt.Errorf("reading the admin API's answer: %w", err)
	}
	orDefault := func(zero bool, s, def string) string {
		if zero {
			return def
		}
		return s
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID", v.ID)
	row("STATE", state(v))
	row("URL", v.URL)
	row("EVENT TYPES", strings.Join(v.EventTypes, ", "))
	row("FILTER", orDefault(v.Filter == "", oneLine(v.Filter, 200), "(none: every event of the types)"))
	names := make([]string, 0, len(v.Headers))
	for k := range v.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	row("HEADERS", orDefault(len(names) == 0, strings.Join(names, ", ")+" (values: --json)", "(none)"))
	row("TIMEOUT", orDefault(v.TimeoutMS == 0, (time.Duration(v.TimeoutMS)*time.Millisecond).String(), "default"))
	row("RATE LIMIT", orDefault(v.RateLimitPerS == 0, fmt.Sprintf("%g/s", v.RateLimitPerS), "unlimited"))
	row("MAX IN FLIGHT", orDefault(v.MaxInFlight == 0, fmt.Sprint(v.MaxInFlight), "default"))
	row("RETRY SCHEDULE", orDefault(len(v.RetrySchedule) == 0, strings.Join(v.RetrySchedule, ", "), "default"))
	row("ALLOW PRIVATE", yesNo(v.AllowPrivate))
	if v.Description != "" {
		row("DESCRIPTION", oneLine(v.Description, 200))
	}
	for i, s := range v.Secrets {
		label := ""
		if i == 0 {
			label = "SECRETS"
		}
		desc := s.Fingerprint + "  created " + s.CreatedAt.Format(time.RFC3339)
		if s.ExpiresAt != nil {
			desc += ", signs until " + s.ExpiresAt.Format(time.RFC3339)
		}
		row(label, desc)
	}
	row("CREATED", v.CreatedAt.Format(time.RFC3339))
	row("UPDATED", v.UpdatedAt.Format(time.RFC3339))
	if b := withBacklog.Backlog; b != nil {
		backlogRows(row, *b)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if extra != nil && v.Secret != "" {
		extra(out, v)
	}
	return nil
}

// backlogRows are what waits for the subscription in the dispatchers, as
// the admin API summed their fresh reports: "none", or the counts, the
// oldest's age and the rate, with each instance's share.
func backlogRows(row func(k, v string), b backlog.Summary) {
	if b.None() {
		row("BACKLOG", "none")
		return
	}
	row("BACKLOG", fmt.Sprintf("%d waiting: %d in memory, %d in the retry topic", b.Waiting(), b.InMemory, b.InRetryTopic))
	if b.OldestAgeSeconds != nil && b.Oldest != nil {
		row("OLDEST", backlog.AgeText(*b.OldestAgeSeconds)+" ("+b.Oldest.Format(time.RFC3339)+")")
	}
	row("DELIVERIES/S", fmt.Sprintf("%.1f", b.DeliveriesPerSecond))
	for i, in := range b.Instances {
		label := ""
		if i == 0 {
			label = "INSTANCES"
		}
		row(label, fmt.Sprintf("%s: %d in memory, %d in the retry topic, %.1f/s, reported %s", in.Instance, in.InMemory, in.InRetryTopic,
			in.DeliveriesPerSecond, in.ReportedAt.Format(time.RFC3339)))
	}
}

func state(v subscription.View) string {
	switch {
	case !v.Enabled && v.DisabledReason != "":
		return "disabled (" + oneLine(v.DisabledReason, 60) + ")"
	case !v.Enabled:
		return "disabled"
	case v.Paused:
		return "paused"
	}
	return "active"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// oneLine keeps a table cell on one line and at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

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
