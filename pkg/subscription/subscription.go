// Package subscription owns the subscription model of the admin API: the
// JSON a client sends and receives, its conversion to and from the stored
// form (event.Subscription, the Go form of schemas/subscription.avsc), the
// validation rules (field-named errors, SSRF refusal of private targets,
// header and policy limits), ids, the Standard Webhooks signing secrets
// (v1 whsec_ HMAC secrets, v1a whsk_ Ed25519 keys with their whpk_ public
// keys) with their rotation, the endpoint authentication (basic, OAuth2
// client credentials, mTLS) with its secrets redacted on read, and the
// destination kind (HTTP, an SQS queue, an EventBridge bus).
//
// The package does no I/O except the optional DNS lookup of a target host
// through an injected Resolver.
package subscription

import (
	"slices"
	"strings"
	"time"

	"github.com/segmentio/ksuid"

	"github.com/surgehq/surge/pkg/event"
)

// IDPrefix starts every subscription id.
const IDPrefix = "sub_"

// NewID mints a subscription id: "sub_" and a ksuid, so ids sort by
// creation time.
func NewID() string { return IDPrefix + ksuid.New().String() }

// View is a subscription as the admin API answers it. Secret values never
// appear in it except Secret, which only the create and rotate-secret
// responses fill.
type View struct {
	ID             string            `json:"id"`
	URL            string            `json:"url"`
	EventTypes     []string          `json:"event_types"`
	Filter         string            `json:"filter"`
	Headers        map[string]string `json:"headers"`
	TimeoutMS      int32             `json:"timeout_ms"`
	RateLimitPerS  float64           `json:"rate_limit_per_s"`
	MaxInFlight    int32             `json:"max_in_flight"`
	RetrySchedule  []string          `json:"retry_schedule"`
	Enabled        bool              `json:"enabled"`
	Paused         bool              `json:"paused"`
	DisabledReason string            `json:"disabled_reason"`
	// AutoDisableAfterMS is the auto-disable rule; 0 is off.
	AutoDisableAfterMS int64     `json:"auto_disable_after_ms"`
	AllowPrivate       bool      `json:"allow_private"`
	Description        string    `json:"description"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
	// SignatureScheme is how deliveries are signed: SchemeV1 or SchemeV1a.
	SignatureScheme string `json:"signature_scheme"`
	// Secrets describes the signing secrets, newest first, without their
	// values (a v1a key with its public key).
	Secrets []SecretInfo `json:"secrets"`
	// Auth is the endpoint authentication, its secrets Redacted; absent
	// when the subscription has none.
	Auth *Auth `json:"auth,omitempty"`
	// Destination is where deliveries go when not an HTTP POST to URL;
	// absent for HTTP.
	Destination *Destination `json:"destination,omitempty"`
	// Secret is the new v1 signing secret, shown once: in the create and
	// the rotate-secret responses only. A v1a signing key is never shown.
	Secret string `json:"secret,omitempty"`
	// PublicKey is the new v1a key's whpk_ public key, in the create and
	// the rotate-secret responses of a v1a subscription (Secrets lists it
	// too, at any time).
	PublicKey string `json:"public_key,omitempty"`
}

// SecretInfo is what the API shows of a signing secret.
type SecretInfo struct {
	// Fingerprint identifies the secret without revealing it; see
	// Fingerprint.
	Fingerprint string     `json:"fingerprint"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	// PublicKey is a v1a signing key's whpk_ public key, which verifies
	// the deliveries it signs; absent for a v1 secret.
	PublicKey string `json:"public_key,omitempty"`
}

// NewView is the API form of a stored subscription, with secret metadata
// and no secret value. Slices and maps are copied.
func NewView(s event.Subscription) View {
	v := View{
		ID:                 s.ID,
		URL:                s.URL,
		EventTypes:         slices.Clone(s.EventTypes),
		Filter:             s.Filter,
		Headers:            cloneMap(s.Headers),
		TimeoutMS:          s.TimeoutMS,
		RateLimitPerS:      s.RateLimitPerS,
		MaxInFlight:        s.MaxInFlight,
		RetrySchedule:      slices.Clone(s.RetrySchedule),
		Enabled:            s.Enabled,
		Paused:             s.Paused,
		DisabledReason:     s.DisabledReason,
		AutoDisableAfterMS: s.AutoDisableAfterMS,
		AllowPrivate:       s.AllowPrivate,
		Description:        s.Description,
		CreatedAt:          s.CreatedAt,
		UpdatedAt:          s.UpdatedAt,
		Secrets:            make([]SecretInfo, 0, len(s.Secrets)),
		Auth:               NewAuthView(s.Auth),
		SignatureScheme:    SchemeOf(s),
		Destination:        NewDestinationView(s.Destination),
	}
	// Clients iterate these; null would be a needless special case.
	if v.EventTypes == nil {
		v.EventTypes = []string{}
	}
	if v.Headers == nil {
		v.Headers = map[string]string{}
	}
	if v.RetrySchedule == nil {
		v.RetrySchedule = []string{}
	}
	for _, sec := range s.Secrets {
		info := SecretInfo{Fingerprint: Fingerprint(sec.Value), CreatedAt: sec.CreatedAt}
		info.PublicKey, _ = PublicKeyOf(sec.Value)
		if sec.ExpiresAt != nil {
			t := *sec.ExpiresAt
			info.ExpiresAt = &t
		}
		v.Secrets = append(v.Secrets, info)
	}
	return v
}

// Input is the body of a create (POST) or a partial update (PATCH): a nil
// field was not sent. JSON null counts as not sent; send "" / [] / {} to
// clear a field. id, secrets, created_at and updated_at are not part of it,
// so a body naming them is refused as an unknown field.
type Input struct {
	URL                *string            `json:"url"`
	EventTypes         *[]string          `json:"event_types"`
	Filter             *string            `json:"filter"`
	Headers            *map[string]string `json:"headers"`
	TimeoutMS          *int32             `json:"timeout_ms"`
	RateLimitPerS      *float64           `json:"rate_limit_per_s"`
	MaxInFlight        *int32             `json:"max_in_flight"`
	RetrySchedule      *[]string          `json:"retry_schedule"`
	Enabled            *bool              `json:"enabled"`
	Paused             *bool              `json:"paused"`
	DisabledReason     *string            `json:"disabled_reason"`
	AutoDisableAfterMS *int64             `json:"auto_disable_after_ms"`
	AllowPrivate       *bool              `json:"allow_private"`
	Description        *string            `json:"description"`
	// Auth replaces the endpoint authentication; {} removes it. A secret
	// sent as Redacted keeps the stored one of the same kind.
	Auth *Auth `json:"auth"`
	// SignatureScheme is SchemeV1 (the default) or SchemeV1a, chosen at
	// creation: a PATCH may only repeat the stored one.
	SignatureScheme *string `json:"signature_scheme"`
	// Destination replaces where deliveries go; {} or {"kind":"http"} is
	// an HTTP POST to url again.
	Destination *Destination `json:"destination"`
}

// ReadOnlyFields are the fields of a View a client cannot set, and
// "backlog", which GET /v1/subscriptions/{id} adds (pkg/admin).
var ReadOnlyFields = []string{"id", "secret", "public_key", "secrets", "created_at", "updated_at", "backlog"}

// IsReadOnly reports whether the JSON field name is one of ReadOnlyFields.
func IsReadOnly(field string) bool { return slices.Contains(ReadOnlyFields, field) }

// Missing lists the fields a create requires that in does not set: url
// unless the destination is SQS or EventBridge, and event_types.
func (in Input) Missing() []string {
	var out []string
	aws := in.Destination != nil && (in.Destination.SQS != nil || in.Destination.EventBridge != nil)
	if in.URL == nil && !aws {
		out = append(out, "url")
	}
	if in.EventTypes == nil {
		out = append(out, "event_types")
	}
	return out
}

// NewSubscription builds the stored form of a new subscription from a
// create body: id and timestamps set, enabled unless the body says
// otherwise, signed by SchemeV1 unless it names another, no secrets yet
// (see NewSecretFor). Validate it before storing.
func NewSubscription(id string, in Input, now time.Time) event.Subscription {
	now = Timestamp(now)
	s := event.Subscription{ID: id, Enabled: true, SignatureScheme: SchemeV1, CreatedAt: now}
	in.Apply(&s, now)
	return s
}

// Apply sets every field in sends on s and stamps UpdatedAt. Enabling a
// subscription without giving a reason clears DisabledReason. Slices and
// maps are copied, so s shares nothing with in.
func (in Input) Apply(s *event.Subscription, now time.Time) {
	set(&s.URL, in.URL)
	setCopy(&s.EventTypes, in.EventTypes, slices.Clone)
	set(&s.Filter, in.Filter)
	setCopy(&s.Headers, in.Headers, cloneMap)
	set(&s.TimeoutMS, in.TimeoutMS)
	set(&s.RateLimitPerS, in.RateLimitPerS)
	set(&s.MaxInFlight, in.MaxInFlight)
	setCopy(&s.RetrySchedule, in.RetrySchedule, slices.Clone)
	if in.Enabled != nil && *in.Enabled && in.DisabledReason == nil {
		s.DisabledReason = ""
	}
	set(&s.Enabled, in.Enabled)
	set(&s.Paused, in.Paused)
	set(&s.DisabledReason, in.DisabledReason)
	set(&s.AutoDisableAfterMS, in.AutoDisableAfterMS)
	set(&s.AllowPrivate, in.AllowPrivate)
	set(&s.Description, in.Description)
	set(&s.SignatureScheme, in.SignatureScheme)
	if in.Auth != nil {
		s.Auth = storedAuth(in.Auth, s.Auth)
	}
	if in.Destination != nil {
		s.Destination = storedDestination(in.Destination)
	}
	s.UpdatedAt = Timestamp(now)
}

// set sets *field to *given when the input gives it (given is not nil).
func set[T any](field, given *T) {
	if given != nil {
		*field = *given
	}
}

// setCopy is set with a copy of *given made by clone, so that the result
// shares no slice or map with the input.
func setCopy[T any](field, given *T, clone func(T) T) {
	if given != nil {
		*field = clone(*given)
	}
}

// Clone returns a deep copy of s, so a stored value shares nothing with
// the caller.
func Clone(s event.Subscription) event.Subscription {
	s.EventTypes = slices.Clone(s.EventTypes)
	s.Headers = cloneMap(s.Headers)
	s.RetrySchedule = slices.Clone(s.RetrySchedule)
	s.Auth = cloneAuth(s.Auth)
	s.Destination = cloneDestination(s.Destination)
	secrets := make([]event.Secret, len(s.Secrets))
	for i, sec := range s.Secrets {
		if sec.ExpiresAt != nil {
			t := *sec.ExpiresAt
			sec.ExpiresAt = &t
		}
		secrets[i] = sec
	}
	if s.Secrets == nil {
		secrets = nil
	}
	s.Secrets = secrets
	return s
}

// Timestamp is t as the stored form keeps it: UTC, to the millisecond
// (Avro timestamp-millis), so a response and a later read agree.
func Timestamp(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// normalizeHeaderName is the case-insensitive form headers are compared in.
func normalizeHeaderName(h string) string { return strings.ToLower(h) }
