package admin

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/subscription"
)

// subscriptionList is the body of GET /v1/subscriptions.
type subscriptionList struct {
	Subscriptions []subscription.View `json:"subscriptions"`
}

func (a *API) listSubscriptions(w http.ResponseWriter, _ *http.Request) error {
	subs := a.deps.Subscriptions.List()
	out := subscriptionList{Subscriptions: make([]subscription.View, 0, len(subs))}
	for _, s := range subs {
		out.Subscriptions = append(out.Subscriptions, subscription.NewView(s))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// subscriptionWithBacklog is the body of GET /v1/subscriptions/{id}: the
// subscription and, read-only, what waits for it in the dispatchers.
type subscriptionWithBacklog struct {
	subscription.View
	Backlog *backlog.Summary `json:"backlog,omitempty"`
}

func (a *API) getSubscription(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	s, ok := a.deps.Subscriptions.Get(id)
	if !ok {
		return notFound("subscription", id)
	}
	out := subscriptionWithBacklog{View: subscription.NewView(s)}
	if a.deps.Backlog != nil {
		b := backlog.Of(a.deps.Backlog.List(), id, a.now())
		b.Subscription = "" // the subscription's own id, said above
		out.Backlog = &b
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) createSubscription(w http.ResponseWriter, r *http.Request) error {
	const route = "POST /v1/subscriptions"
	var in subscription.Input
	if err := a.decodeBody(w, r, &in, subscription.IsReadOnly); err != nil {
		return err
	}
	if missing := in.Missing(); len(missing) > 0 {
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: missing[0], Message: "is required"}
	}
	now := a.now()
	s := subscription.NewSubscription(subscription.NewID(), in, now)
	if err := a.validator.Validate(r.Context(), s); err != nil {
		return validationError(err, subscriptionDocRule)
	}
	secret, err := subscription.NewSecret(now)
	if err != nil {
		return err
	}
	s.Secrets = []event.Secret{secret}

	ctx, cancel := a.writeCtx(r)
	defer cancel()
	if err := a.deps.Subscriptions.Put(ctx, s.ID, s); err != nil {
		a.log.Warn("subscription not stored", zap.String("route", route), zap.String("subscription_id", s.ID), zap.Error(err))
		return unavailable("the subscription", err)
	}
	a.log.Info("subscription created", zap.String("route", route), zap.String("subscription_id", s.ID))
	v := subscription.NewView(s)
	v.Secret = secret.Value
	w.Header().Set("Location", "/v1/subscriptions/"+s.ID)
	httpx.WriteJSON(w, http.StatusCreated, v)
	return nil
}

func (a *API) patchSubscription(w http.ResponseWriter, r *http.Request) error {
	const route = "PATCH /v1/subscriptions/{id}"
	id := r.PathValue("id")
	var in subscription.Input
	if err := a.decodeBody(w, r, &in, subscription.IsReadOnly); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, ok := a.deps.Subscriptions.Get(id)
	if !ok {
		return notFound("subscription", id)
	}
	next := subscription.Clone(cur)
	in.Apply(&next, a.now())
	v := a.validator
	if next.URL == cur.URL && next.AllowPrivate == cur.AllowPrivate {
		// The target did not change: check its IP literal, if any, but
		// do not wait for DNS to pause or retune a subscription.
		v.Resolver = resolverNoLookup{}
	}
	if err := v.Validate(r.Context(), next); err != nil {
		return validationError(err, subscriptionDocRule)
	}
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	if err := a.deps.Subscriptions.Put(ctx, id, next); err != nil {
		a.log.Warn("subscription not stored", zap.String("route", route), zap.String("subscription_id", id), zap.Error(err))
		return unavailable("the change", err)
	}
	a.log.Info("subscription updated", zap.String("route", route), zap.String("subscription_id", id),
		zap.Bool("enabled", next.Enabled), zap.Bool("paused", next.Paused))
	httpx.WriteJSON(w, http.StatusOK, subscription.NewView(next))
	return nil
}

func (a *API) deleteSubscription(w http.ResponseWriter, r *http.Request) error {
	const route = "DELETE /v1/subscriptions/{id}"
	id := r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.deps.Subscriptions.Get(id); !ok {
		return notFound("subscription", id)
	}
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	if err := a.deps.Subscriptions.Delete(ctx, id); err != nil {
		a.log.Warn("subscription not deleted", zap.String("route", route), zap.String("subscription_id", id), zap.Error(err))
		return unavailable("the deletion", err)
	}
	a.log.Info("subscription deleted", zap.String("route", route), zap.String("subscription_id", id))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	const route = "POST /v1/subscriptions/{id}/rotate-secret"
	id := r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, ok := a.deps.Subscriptions.Get(id)
	if !ok {
		return notFound("subscription", id)
	}
	grace, err := a.rotationGrace(w, r)
	if err != nil {
		return err
	}
	now := a.now()
	secret, err := subscription.NewSecret(now)
	if err != nil {
		return err
	}
	next := subscription.Clone(cur)
	next.Secrets = subscription.Rotate(cur.Secrets, secret, now, grace)
	next.UpdatedAt = subscription.Timestamp(now)
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	if err := a.deps.Subscriptions.Put(ctx, id, next); err != nil {
		a.log.Warn("rotated secret not stored", zap.String("route", route), zap.String("subscription_id", id), zap.Error(err))
		return unavailable("the new secret", err)
	}
	a.log.Info("subscription secret rotated", zap.String("route", route), zap.String("subscription_id", id),
		zap.String("fingerprint", subscription.Fingerprint(secret.Value)), zap.Duration("grace", grace), zap.Int("signing_keys", len(next.Secrets)))
	v := subscription.NewView(next)
	v.Secret = secret.Value
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}
