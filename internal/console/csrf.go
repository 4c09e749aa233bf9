package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// CookieName is the console's per-browser cookie: a random value the CSRF
// token is bound to (HttpOnly, SameSite=Strict, Secure over HTTPS).
const CookieName = "mdm_console"

// CSRFField is the form field every POST must carry.
const CSRFField = "csrf"

// csrfToken binds a token to the secret, the admin and the browser's
// cookie: a token stolen from one admin's page is worthless for another
// admin or another browser, and a forged form cannot know it.
func csrfToken(secret []byte, user, cookie string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mdm-console-csrf\x00"))
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// browserCookie returns the request's console cookie, setting a new one
// on the response when it has none (or a malformed one).
func browserCookie(w http.ResponseWriter, r *http.Request, path string) string {
	if c, err := r.Cookie(CookieName); err == nil && validCookieValue(c.Value) {
		return c.Value
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: v, Path: path, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	return v
}

func validCookieValue(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 24
}

// Reasons a POST is refused.
var (
	errCrossOrigin = errors.New("cross-origin request (Origin or Sec-Fetch-Site does not match the console)")
	errNoCookie    = errors.New("no console cookie: reload the page and submit again")
	errBadToken    = errors.New("missing or wrong CSRF token: reload the page and submit again")
)

// checkPost refuses a state-changing request that is not a form of this
// console submitted by this admin's browser: the Origin (when the browser
// sends one) must be the console's own, Sec-Fetch-Site (when sent) must
// be same-origin, and the form's token must be the HMAC of this user and
// this browser's cookie. The form must already be parsed.
func checkPost(r *http.Request, secret []byte, user string) error {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return errCrossOrigin
		}
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return errCrossOrigin
	}
	c, err := r.Cookie(CookieName)
	if err != nil || !validCookieValue(c.Value) {
		return errNoCookie
	}
	want := csrfToken(secret, user, c.Value)
	if !hmac.Equal([]byte(r.PostForm.Get(CSRFField)), []byte(want)) {
		return errBadToken
	}
	return nil
}
