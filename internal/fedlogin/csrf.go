package fedlogin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
)

// csrfCookie holds the browser's CSRF token (double-submit): the form
// carries the same value in a hidden field, and a post is accepted only
// when the two match. Another site can make a browser post the form, but
// can neither read nor set this cookie (__Host-: Secure, Path=/, no
// Domain; SameSite=Strict: not even sent on a cross-site post).
const csrfCookie = "__Host-mdm_login_csrf"

// csrfLifetime is how long a form may stay open before its post is
// refused.
const csrfLifetime = 30 * 60

// csrfToken returns the browser's CSRF token, setting a new one when it
// has none (or one not of ours).
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validCSRF(c.Value) {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: v, Path: "/", MaxAge: csrfLifetime,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return v
}

func validCSRF(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

// checkCSRF reports whether a posted form carries the browser's token.
func checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validCSRF(c.Value) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) == 1
}
