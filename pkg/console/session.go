package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// CookieName is the session cookie's name.
const CookieName = "surge_console"

// CSRFField is the form field every state-changing form carries.
const CSRFField = "csrf"

// maxFormBytes bounds a form's body (a filter is at most 4 KiB).
const maxFormBytes = 64 << 10

// session is a logged-in browser: its id (the cookie's value) and the
// CSRF token its forms carry.
type session struct {
	id   string
	csrf string
}

// pageFunc serves a page to a logged-in session.
type pageFunc func(w http.ResponseWriter, r *http.Request, s session) error

// authenticated serves h only to a live session: a GET without one goes
// to the login page, anything else is a 401. A POST must also carry the
// session's CSRF token (403 otherwise).
func (c *Console) authenticated(h pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.sessionOf(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in to the console", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue(CSRFField)), []byte(s.csrf)) != 1 {
				http.Error(w, "the form's CSRF token is missing or wrong; reload the page", http.StatusForbidden)
				return
			}
		}
		if err := h(w, r, s); err != nil {
			c.fail(w, r, err)
		}
	})
}

// sessionOf is r's live session, if its cookie names one.
func (c *Console) sessionOf(r *http.Request) (session, bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return session{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.sessions[ck.Value]
	if !ok {
		return session{}, false
	}
	if !c.now().Before(exp) {
		delete(c.sessions, ck.Value)
		return session{}, false
	}
	return session{id: ck.Value, csrf: c.csrfOf(ck.Value)}, true
}

// csrfOf is the CSRF token of session id: an HMAC of it under a key of
// this process, so it needs no storage and no other session's token fits.
func (c *Console) csrfOf(id string) string {
	m := hmac.New(sha256.New, c.csrfKey[:])
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.sessionOf(r); ok {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	if err := c.render(w, r, http.StatusOK, "login", page{Title: "Log in"}); err != nil {
		c.fail(w, r, err)
	}
}

// login takes the admin token from the form and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	sum := sha256.Sum256([]byte(strings.TrimSpace(r.PostFormValue("token"))))
	if subtle.ConstantTimeCompare(sum[:], c.tokenSum[:]) != 1 {
		if err := c.render(w, r, http.StatusUnauthorized, "login", page{Title: "Log in", Error: "That is not the admin token."}); err != nil {
			c.fail(w, r, err)
		}
		return
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		c.fail(w, r, err)
		return
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	c.mu.Lock()
	now := c.now()
	for k, exp := range c.sessions {
		if !now.Before(exp) {
			delete(c.sessions, k)
		}
	}
	if len(c.sessions) >= MaxSessions {
		oldest := ""
		for k, exp := range c.sessions {
			if oldest == "" || exp.Before(c.sessions[oldest]) {
				oldest = k
			}
		}
		delete(c.sessions, oldest)
	}
	c.sessions[id] = now.Add(c.cfg.SessionTTL)
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/console/", MaxAge: int(c.cfg.SessionTTL.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s session) error {
	c.mu.Lock()
	delete(c.sessions, s.id)
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/console/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
	return nil
}
