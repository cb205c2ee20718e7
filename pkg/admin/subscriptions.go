package admin

import (
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/subscription"
)

// subscriptionList is the body of GET /v1/subscriptions.
type subscriptionList struct {
	Subscriptions []subscriptionWithBacklog `json:"subscriptions"`
}

// listSubscriptions answers every subscription, each with its backlog,
// summed from the reports once for the whole list.
func (a *API) listSubscriptions(*http.Request) (any, error) {
	var sums map[string]backlog.Summary
	if a.deps.Backlog != nil {
		sums = backlog.Summarize(a.deps.Backlog.List(), a.now())
	}
	return subscriptionList{Subscriptions: listOf(a.deps.Subscriptions.List(), func(s event.Subscription) subscriptionWithBacklog {
		return a.withBacklog(s, sums)
	})}, nil
}

// subscriptionWithBacklog is a subscription as GET answers it: the
// subscription and, read-only, what waits for it in the dispatchers.
type subscriptionWithBacklog struct {
	subscription.View
	Backlog *backlog.Summary `json:"backlog,omitempty"`
}

// withBacklog is s with its summary from sums (nil when the API has no
// backlog reports); a subscription with nothing waiting gets "none".
func (a *API) withBacklog(s event.Subscription, sums map[string]backlog.Summary) subscriptionWithBacklog {
	out := subscriptionWithBacklog{View: subscription.NewView(s)}
	if a.deps.Backlog != nil {
		b, ok := sums[s.ID]
		if !ok {
			b = backlog.Summary{Instances: []backlog.Instance{}}
		}
		b.Subscription = "" // the subscription's own id, said above
		out.Backlog = &b
	}
	return out
}

func (a *API) getSubscription(r *http.Request) (any, error) {
	id := r.PathValue("id")
	s, err := lookup(a.deps.Subscriptions, "subscription", id)
	if err != nil {
		return nil, err
	}
	out := subscriptionWithBacklog{View: subscription.NewView(s)}
	if a.deps.Backlog != nil {
		b := backlog.Of(a.deps.Backlog.List(), id, a.now())
		b.Subscription = "" // the subscription's own id, said above
		out.Backlog = &b
	}
	return out, nil
}

func (a *API) createSubscription(w http.ResponseWriter, r *http.Request) error {
	var in subscription.Input
	if err := a.decodeBody(w, r, &in, subscription.IsReadOnly); err != nil {
		return err
	}
	if missing := in.Missing(); len(missing) > 0 {
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: missing[0], Message: "is required"}
	}
	now := a.now()
	s := subscription.NewSubscription(subscription.NewID(), in, now)
	if err := errors.Join(in.CheckScheme(), in.CheckAuth(), in.CheckDestination(), a.validator.Validate(r.Context(), s)); err != nil {
		return validationError(err, subscriptionDocRule)
	}
	secret, err := subscription.NewSecretFor(subscription.SchemeOf(s), now)
	if err != nil {
		return err
	}
	s.Secrets = []event.Secret{secret}

	c := a.change(r, zap.String(observe.KeySubscriptionID, s.ID))
	if err := put(c, a.deps.Subscriptions, s.ID, s, "subscription not stored", "the subscription"); err != nil {
		return err
	}
	c.log.Info("subscription created", zap.String("scheme", subscription.SchemeOf(s)))
	v := withNewSecret(subscription.NewView(s), secret)
	w.Header().Set("Location", "/v1/subscriptions/"+s.ID)
	httpx.WriteJSON(w, http.StatusCreated, v)
	return nil
}

func (a *API) patchSubscription(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in subscription.Input
	if err := a.decodeBody(w, r, &in, subscription.IsReadOnly); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, err := lookup(a.deps.Subscriptions, "subscription", id)
	if err != nil {
		return err
	}
	next := subscription.Clone(cur)
	in.Apply(&next, a.now())
	v := a.validator
	if next.URL == cur.URL && next.AllowPrivate == cur.AllowPrivate && tokenURL(next) == tokenURL(cur) && endpointURL(next) == endpointURL(cur) {
		// The targets did not change: check their IP literals, if any,
		// but do not wait for DNS to pause or retune a subscription.
		v.Resolver = resolverNoLookup{}
	}
	if err := errors.Join(in.CheckScheme(), in.CheckAuth(), in.CheckDestination(), v.Validate(r.Context(), next)); err != nil {
		return validationError(err, subscriptionDocRule)
	}
	if subscription.SchemeOf(next) != subscription.SchemeOf(cur) {
		return unprocessable("signature_scheme", fmt.Sprintf("is %q, chosen at creation; a subscription keeps its signature scheme: create a new subscription to sign with %q",
			subscription.SchemeOf(cur), subscription.SchemeOf(next)))
	}
	c := a.change(r, zap.String(observe.KeySubscriptionID, id))
	if err := put(c, a.deps.Subscriptions, id, next, "subscription not stored", "the change"); err != nil {
		return err
	}
	c.log.Info("subscription updated", zap.Bool("enabled", next.Enabled), zap.Bool("paused", next.Paused))
	httpx.WriteJSON(w, http.StatusOK, subscription.NewView(next))
	return nil
}

// tokenURL is the subscription's OAuth2 token URL, "" when it has none:
// a second target the SSRF rules check.
func tokenURL(s event.Subscription) string {
	if s.Auth == nil || s.Auth.OAuth2 == nil {
		return ""
	}
	return s.Auth.OAuth2.TokenURL
}

// endpointURL is the endpoint override of the subscription's AWS
// destination, "" when it has none: another target the SSRF rules check.
func endpointURL(s event.Subscription) string {
	switch d := s.Destination; subscription.DestinationKind(d) {
	case subscription.DestinationSQS:
		return d.SQS.EndpointURL
	case subscription.DestinationEventBridge:
		return d.EventBridge.EndpointURL
	}
	return ""
}

func (a *API) deleteSubscription(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	return deleteKey(a.change(r, zap.String(observe.KeySubscriptionID, id)), w, a.deps.Subscriptions, "subscription", id)
}

func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, err := lookup(a.deps.Subscriptions, "subscription", id)
	if err != nil {
		return err
	}
	grace, err := a.rotationGrace(w, r)
	if err != nil {
		return err
	}
	now := a.now()
	secret, err := subscription.NewSecretFor(subscription.SchemeOf(cur), now)
	if err != nil {
		return err
	}
	next := withSecrets(cur, subscription.Rotate(cur.Secrets, secret, now, grace), now)
	c := a.change(r, zap.String(observe.KeySubscriptionID, id))
	if err := put(c, a.deps.Subscriptions, id, next, "rotated secret not stored", "the new secret"); err != nil {
		return err
	}
	c.log.Info("subscription secret rotated", zap.String("fingerprint", subscription.Fingerprint(secret.Value)),
		zap.Duration("grace", grace), zap.Int("signing_keys", len(next.Secrets)))
	httpx.WriteJSON(w, http.StatusOK, withNewSecret(subscription.NewView(next), secret))
	return nil
}

// withNewSecret is v answering a create or a rotation that made secret: a
// v1 secret is shown, this once; of a v1a signing key only the public key
// is (the receiver needs nothing else, and the key never leaves Surge).
func withNewSecret(v subscription.View, secret event.Secret) subscription.View {
	if pub, ok := subscription.PublicKeyOf(secret.Value); ok {
		v.PublicKey = pub
		return v
	}
	v.Secret = secret.Value
	return v
}
