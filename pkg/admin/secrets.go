package admin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/surgehq/surge/pkg/event"
	"github.com/surgehq/surge/pkg/httpx"
	"github.com/surgehq/surge/pkg/observe"
	"github.com/surgehq/surge/pkg/subscription"
)

// rotationGrace is the grace of a rotation: the body's, or the configured
// default when the request has no body or the body no grace.
func (a *API) rotationGrace(w http.ResponseWriter, r *http.Request) (time.Duration, error) {
	if r.ContentLength == 0 {
		return a.cfg.SecretGrace, nil
	}
	var in subscription.RotateInput
	if err := a.decodeBody(w, r, &in, nil); err != nil {
		return 0, err
	}
	if in.Grace == nil {
		return a.cfg.SecretGrace, nil
	}
	grace, err := subscription.ParseGrace(*in.Grace)
	if err != nil {
		return 0, unprocessable("grace", err.Error())
	}
	return grace, nil
}

// revokeSecret removes one previous secret, named by its fingerprint, from
// a subscription: from the next table refresh on, no delivery is signed
// with it.
func (a *API) revokeSecret(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in subscription.RevokeInput
	if err := a.decodeBody(w, r, &in, nil); err != nil {
		return err
	}
	if !subscription.ValidFingerprint(in.Fingerprint) {
		msg := fmt.Sprintf("%q is not a secret's fingerprint: give it as GET /v1/subscriptions/{id} lists it, sha256: and 12 hex digits", in.Fingerprint)
		if in.Fingerprint == "" {
			msg = "is required: the secret's fingerprint as GET /v1/subscriptions/{id} lists it (sha256: and 12 hex digits)"
		}
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeInvalid, Field: "fingerprint", Message: msg}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, err := lookup(a.deps.Subscriptions, "subscription", id)
	if err != nil {
		return err
	}
	secrets, err := subscription.Revoke(cur.Secrets, in.Fingerprint)
	switch {
	case errors.Is(err, subscription.ErrSecretNotFound):
		// A 422, not a 404: the subscription the path names exists; the
		// body names a secret it does not have.
		return unprocessable("fingerprint", err.Error())
	case errors.Is(err, subscription.ErrCurrentSecret):
		return &httpx.Error{Status: http.StatusConflict, Code: httpx.CodeConflict, Field: "fingerprint", Message: err.Error()}
	case err != nil:
		return err
	}
	next := withSecrets(cur, secrets, a.now())
	c := a.change(r, zap.String(observe.KeySubscriptionID, id))
	if err := put(c, a.deps.Subscriptions, id, next, "secret revocation not stored", "the revocation"); err != nil {
		return err
	}
	c.log.Info("subscription secret revoked", zap.String("fingerprint", in.Fingerprint), zap.Int("signing_keys", len(next.Secrets)))
	httpx.WriteJSON(w, http.StatusOK, subscription.NewView(next))
	return nil
}

// withSecrets is a copy of cur signing with secrets, updated at now.
func withSecrets(cur event.Subscription, secrets []event.Secret, now time.Time) event.Subscription {
	next := subscription.Clone(cur)
	next.Secrets = secrets
	next.UpdatedAt = subscription.Timestamp(now)
	return next
}
