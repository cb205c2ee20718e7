package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	api := subsAPI{o: &o, client: client}
	cmd.AddCommand(
		newSubsCreateCommand(api),
		newSubsListCommand(api),
		newSubsGetCommand(api),
		newSubsUpdateCommand(api),
		newSubsDeleteCommand(api),
		newSubsRotateCommand(api),
		newSubsRevokeCommand(api),
		newSubsPauseCommand(api, "pause", true),
		newSubsPauseCommand(api, "resume", false),
	)
	return cmd
}

// subsAPI is what every subs command talks to the admin API with: the
// shared flags and the client they make.
type subsAPI struct {
	o *subsOptions
	// client makes the client from cmd's connection flags (and their
	// SURGE_* variables); a bad setting is a cli.ConfigError.
	client func(cmd *cobra.Command) (*subsClient, error)
}

// call sends one request with the client of cmd's flags and returns the
// body of its 2xx answer.
func (api subsAPI) call(cmd *cobra.Command, method, path string, body any) ([]byte, error) {
	c, err := api.client(cmd)
	if err != nil {
		return nil, err
	}
	return c.do(cmd.Context(), method, path, body)
}

// show is call, printing the answer as a subscription (printSub, extra
// included).
func (api subsAPI) show(cmd *cobra.Command, method, path string, body any, extra func(io.Writer, subscription.View)) error {
	raw, err := api.call(cmd, method, path, body)
	if err != nil {
		return err
	}
	return printSub(cmd.OutOrStdout(), api.o, raw, extra)
}

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
	AutoDisable   time.Duration
	Signature     string
	Auth          authFlags
	Destination   destinationFlags
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
	fs.DurationVar(&f.AutoDisable, "auto-disable-after", 0, "disable the subscription when every attempt has failed for this long, 1s to 720h (0: never)")
	f.Auth.register(fs)
	f.Destination.register(fs)
}

// registerSignature adds --signature, which only a create takes: a
// subscription keeps the scheme it was created with.
func (f *subFlags) registerSignature(fs *pflag.FlagSet) {
	fs.StringVar(&f.Signature, "signature", subscription.SchemeV1, `signature scheme: "v1" (HMAC-SHA256, a whsec_ secret the receiver shares) or "v1a" (Ed25519: the receiver verifies with a whpk_ public key)`)
}

// body is the JSON of the flags given on the command line, and only
// those: a create leaves the rest to the server's defaults, an update
// (PATCH) changes only them.
func (f *subFlags) body(fs *pflag.FlagSet, update bool) (map[string]any, error) {
	b := map[string]any{}
	set := func(flag, field string, v any) {
		if fs.Changed(flag) {
			b[field] = v
		}
	}
	set("url", "url", f.URL)
	set("event-type", "event_types", trimmedList(f.EventTypes))
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
	if fs.Changed("auto-disable-after") {
		if f.AutoDisable%time.Millisecond != 0 {
			return nil, fmt.Errorf("--auto-disable-after %s: give whole milliseconds", f.AutoDisable)
		}
		b["auto_disable_after_ms"] = f.AutoDisable.Milliseconds()
	}
	set("rate-limit", "rate_limit_per_s", f.RateLimit)
	set("max-in-flight", "max_in_flight", f.MaxInFlight)
	set("retry-schedule", "retry_schedule", trimmedList(f.RetrySchedule))
	set("description", "description", f.Description)
	set("allow-private", "allow_private", f.AllowPrivate)
	set("disabled", "enabled", !f.Disabled)
	set("signature", "signature_scheme", f.Signature) // create only
	auth, err := f.Auth.body(fs, update)
	if err != nil {
		return nil, err
	}
	if auth != nil {
		b["auth"] = auth
	}
	dest, err := f.Destination.body(fs)
	if err != nil {
		return nil, err
	}
	if dest != nil {
		b["destination"] = dest
	}
	return b, nil
}

// trimmedList is the items of a list flag, trimmed, the empty ones left
// out; [] rather than nil for none, so that the body clears the list.
func trimmedList(items []string) []string {
	out := []string{}
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func newSubsCreateCommand(api subsAPI) *cobra.Command {
	var f subFlags
	cmd := &cobra.Command{
		Use:   "create (--url URL | --destination sqs|eventbridge ...) --event-type PATTERN [flags]",
		Short: "Create a subscription and print its signing secret (shown once), or with --signature v1a its public key",
		Example: `  surge subs create --url https://erp.example.com/hooks --event-type 'order.*' \
    --filter 'data.total > 100.0' --header 'X-Api-Key=abc' --retry-schedule 5s,30s,2m
  surge subs create --url https://erp.example.com/hooks --event-type '*' --signature v1a
  surge subs create --url https://erp.example.com/hooks --event-type '*' \
    --oauth2-token-url https://login.example.com/token --oauth2-client-id surge \
    --oauth2-client-secret "$SECRET" --oauth2-scope orders.write
  surge subs create --event-type 'order.*' --destination sqs \
    --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo
  surge subs create --event-type '*' --destination eventbridge --event-bus shop \
    --event-source shop.surge --aws-role-arn arn:aws:iam::123456789012:role/surge-events`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := api.client(cmd)
			if err != nil {
				return err
			}
			body, err := f.body(cmd.Flags(), false)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodPost, "/v1/subscriptions", body)
			if err != nil {
				return err
			}
			return printSub(cmd.OutOrStdout(), api.o, raw, func(w io.Writer, v subscription.View) {
				if v.PublicKey != "" {
					fmt.Fprintf(w, "\nPublic key: %s\n", v.PublicKey)
					fmt.Fprintln(w, "Receivers verify the v1a signatures with it alone; the signing key never leaves Surge. `surge subs get` shows it again.")
					return
				}
				fmt.Fprintf(w, "\nSigning secret: %s\n", v.Secret)
				fmt.Fprintf(w, "Store it now: it will not be shown again. `surge subs rotate-secret %s` makes a new one.\n", v.ID)
			})
		},
	}
	f.register(cmd.Flags())
	f.registerSignature(cmd.Flags())
	// --url is required unless --destination names an AWS one; the
	// admin API says so.
	_ = cmd.MarkFlagRequired("event-type")
	return cmd
}

func newSubsUpdateCommand(api subsAPI) *cobra.Command {
	var f subFlags
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change the given fields of a subscription; the others stay as they are",
		Example: `  surge subs update sub_2pQ4... --filter 'data.total > 50.0'
  surge subs update sub_2pQ4... --disabled=false
  surge subs update sub_2pQ4... --client-cert surge.crt --client-key surge.key
  surge subs update sub_2pQ4... --no-auth`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := f.body(cmd.Flags(), true)
			if err != nil {
				return err
			}
			if len(body) == 0 {
				return errors.New("nothing to update: give at least one of --url, --event-type, --filter, --header, --timeout, --rate-limit, --max-in-flight, --retry-schedule, --description, --allow-private, --disabled, --auto-disable-after, --" +
					strings.Join(append(authFlagNames, destinationFlagNames...), ", --"))
			}
			return api.show(cmd, http.MethodPatch, subPath(args[0]), body, nil)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func newSubsPauseCommand(api subsAPI, verb string, paused bool) *cobra.Command {
	short := "Hold a subscription's deliveries until it is resumed"
	if !paused {
		short = "Resume a paused subscription's deliveries"
	}
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return api.show(cmd, http.MethodPatch, subPath(args[0]), map[string]any{"paused": paused}, nil)
		},
	}
}

func newSubsListCommand(api subsAPI) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List subscriptions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := api.call(cmd, http.MethodGet, "/v1/subscriptions", nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if api.o.JSON {
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

func newSubsGetCommand(api subsAPI) *cobra.Command {
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
			return api.show(cmd, http.MethodGet, subPath(args[0]), nil, nil)
		},
	}
}

func newSubsDeleteCommand(api subsAPI) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a subscription",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := api.call(cmd, http.MethodDelete, subPath(args[0]), nil); err != nil {
				return err
			}
			if !api.o.JSON {
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			}
			return nil
		},
	}
}

func newSubsRotateCommand(api subsAPI) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "rotate-secret ID [--grace DURATION]",
		Short: "Make a new signing secret; the previous ones keep signing for a grace period (--grace 0s: not at all)",
		Long: `Make a new signing secret, shown once (a v1a subscription's new key is
never shown: its public key is). The secrets it replaces keep signing
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
			return api.show(cmd, http.MethodPost, subPath(args[0])+"/rotate-secret", body, func(w io.Writer, v subscription.View) {
				if v.PublicKey != "" {
					fmt.Fprintf(w, "\nNew public key: %s\n", v.PublicKey)
					fmt.Fprintln(w, "Give it to the receivers: they verify the new key's v1a signatures with it.")
				} else {
					fmt.Fprintf(w, "\nNew signing secret: %s\n", v.Secret)
					fmt.Fprintln(w, "Store it now: it will not be shown again.")
				}
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

func newSubsRevokeCommand(api subsAPI) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke-secret ID FINGERPRINT",
		Short: "Stop a previous signing secret, named by its fingerprint (surge subs get lists them)",
		Long: `Remove one previous signing secret from the subscription: no delivery,
first attempt or retry, is signed with it from the dispatcher's next
refresh of its subscriptions table on (within about a second). FINGERPRINT
is the one surge subs get lists (sha256: and 12 hex digits: the start of
the SHA-256 of the whole secret text, or of a v1a key's whpk_ public key).
The current secret cannot be revoked: rotate-secret --grace 0s replaces it
at once.`,
		Example: `  surge subs get sub_2pQ4...
  surge subs revoke-secret sub_2pQ4... sha256:96ad2ccd8146`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := api.show(cmd, http.MethodPost, subPath(args[0])+"/revoke-secret", map[string]any{"fingerprint": args[1]}, nil); err != nil {
				return err
			}
			if !api.o.JSON {
				fmt.Fprintf(cmd.OutOrStdout(), "\nRevoked %s: it signs no delivery from the dispatcher's next table refresh on.\n", args[1])
			}
			return nil
		},
	}
}
