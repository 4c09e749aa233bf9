package fedlogin

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// OIDCConfig is an upstream OpenID Connect provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL (its discovery document lives at
	// Issuer + "/.well-known/openid-configuration").
	Issuer string
	// ClientID and ClientSecret are this server's client registration; the
	// secret may be empty for a public client (PKCE still protects it).
	ClientID, ClientSecret string
	// RedirectURL is the absolute callback URL registered at the provider.
	// Default: https://<request host><Path>/callback.
	RedirectURL string
	// Scopes asked for; "openid" is always added. Default: openid, email,
	// profile.
	Scopes []string
	// UsernameClaim is the ID token claim that names the user. Default:
	// "email" (then refused when email_verified is present and neither
	// true nor "true"; a missing email_verified passes).
	UsernameClaim string
	// AllowedDomains, if set, are the domains (after the last '@' of the
	// user name, any case) allowed to sign in.
	AllowedDomains []string
	// Claim and ClaimValues, if set, require the ID token claim Claim to
	// be (or, for a list such as groups, to contain) one of ClaimValues.
	Claim       string
	ClaimValues []string
	// Name is shown on the button ("Sign in with <Name>"). Default: the
	// issuer's host.
	Name string
	// HTTPClient reaches the provider. Default: a client with a 15 s
	// timeout.
	HTTPClient *http.Client
}

// stateCookie carries the sign-in's state from the redirect to the
// provider to its callback, encrypted and authenticated (JWE, dir +
// A256GCM, by go-jose) under a key derived from the server's: the browser
// can neither read the PKCE verifier nor change appru. SameSite=Lax: the
// callback is a top-level navigation from the provider's site.
const stateCookie = "__Host-mdm_login_oidc"

// stateLifetime bounds the time spent at the provider.
const stateLifetime = 10 * time.Minute

// providerRetry is how long a failed provider discovery is remembered
// before it is tried again.
const providerRetry = 10 * time.Second

type oidcState struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	AppRU    string `json:"appru"`
	Hint     string `json:"hint,omitempty"`
	Expires  int64  `json:"exp"`
}

type oidcFlow struct {
	cfg  OIDCConfig
	name string
	key  []byte
	now  func() time.Time

	mu       sync.Mutex
	provider *oidc.Provider
	failedAt time.Time
	lastErr  error
}

func newOIDCFlow(c *OIDCConfig, secret []byte, now func() time.Time) (*oidcFlow, error) {
	cfg := *c
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" {
		return nil, fmt.Errorf("oidc issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidc needs a client_id")
	}
	if cfg.RedirectURL != "" {
		if u, err := url.Parse(cfg.RedirectURL); err != nil || !u.IsAbs() {
			return nil, fmt.Errorf("oidc redirect_url %q is not an absolute URL", cfg.RedirectURL)
		}
	}
	if len(secret) < 32 {
		return nil, errors.New("the login page needs a key of at least 32 bytes")
	}
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = "email"
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"email", "profile"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	if (cfg.Claim == "") != (len(cfg.ClaimValues) == 0) {
		return nil, errors.New("oidc claim needs a name and at least one value")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	name := cfg.Name
	if name == "" {
		name = iss.Host
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "caddy-mdm login page OIDC state", 32)
	if err != nil {
		return nil, err
	}
	return &oidcFlow{cfg: cfg, name: name, key: key, now: now}, nil
}

// getProvider discovers the provider on first use (not at start: a
// provider that is down must not keep the server from starting), retrying
// after providerRetry when that failed.
func (f *oidcFlow) getProvider(ctx context.Context) (*oidc.Provider, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.provider != nil {
		return f.provider, nil
	}
	if f.lastErr != nil && f.now().Sub(f.failedAt) < providerRetry {
		return nil, f.lastErr
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, f.cfg.HTTPClient), 20*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, f.cfg.Issuer)
	if err != nil {
		f.lastErr, f.failedAt = fmt.Errorf("discovering the OpenID Connect provider %s: %w", f.cfg.Issuer, err), f.now()
		return nil, f.lastErr
	}
	f.provider, f.lastErr = p, nil
	return p, nil
}

func (f *oidcFlow) oauth2Config(p *oidc.Provider, r *http.Request, path string) *oauth2.Config {
	redirect := f.cfg.RedirectURL
	if redirect == "" {
		redirect = "https://" + r.Host + path + callbackPath
	}
	return &oauth2.Config{
		ClientID: f.cfg.ClientID, ClientSecret: f.cfg.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: redirect, Scopes: f.cfg.Scopes,
	}
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startOIDC answers GET <path>/oidc?appru=&login_hint= with a redirect to
// the provider, the sign-in's state in an encrypted cookie.
func (s *Server) startOIDC(w http.ResponseWriter, r *http.Request) {
	f := s.oidc
	q := r.URL.Query()
	appru, hint := q.Get("appru"), cleanHint(q.Get("login_hint"))
	if err := checkAppRU(appru); err != nil {
		s.fail(w, r, http.StatusBadRequest, "", "This sign-in page returns only to the Windows enrollment app, and the address it was given (appru) is not one.", Event{Method: "oidc", Reason: "bad appru", Err: err})
		return
	}
	p, err := f.getProvider(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, appru, "The sign-in service cannot be reached right now. Try again in a moment.", Event{Method: "oidc", Reason: "provider unreachable", Err: err})
		return
	}
	st := oidcState{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(),
		AppRU: appru, Hint: hint, Expires: f.now().Add(stateLifetime).Unix()}
	sealed, err := f.seal(st)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, appru, "The server could not start the sign-in.", Event{Method: "oidc", Reason: "sealing the state", Err: err})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: sealed, Path: "/", MaxAge: int(stateLifetime / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(st.Verifier), oidc.Nonce(st.Nonce)}
	if hint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", hint))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, f.oauth2Config(p, r, s.cfg.Path).AuthCodeURL(st.State, opts...), http.StatusFound)
}

// finishOIDC answers the provider's redirect back: it checks the state,
// redeems the code with the PKCE verifier, verifies the ID token (signature,
// issuer, audience, expiry, nonce), applies the domain and claim rules and
// hands out the enrollment token.
func (s *Server) finishOIDC(w http.ResponseWriter, r *http.Request) {
	f := s.oidc
	c, err := r.Cookie(stateCookie)
	if err != nil {
		s.fail(w, r, http.StatusForbidden, "", "This sign-in has expired or did not start here. Start the enrollment again.", Event{Method: "oidc", Reason: "no state cookie"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	st, err := f.open(c.Value)
	if err != nil {
		s.fail(w, r, http.StatusForbidden, "", "This sign-in has expired or did not start here. Start the enrollment again.", Event{Method: "oidc", Reason: "bad state cookie", Err: err})
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		s.fail(w, r, http.StatusForbidden, st.AppRU, "This sign-in did not start here. Sign in again.", Event{Method: "oidc", Reason: "state mismatch"})
		return
	}
	if e := q.Get("error"); e != "" {
		s.fail(w, r, http.StatusForbidden, st.AppRU, "The sign-in service did not sign you in.", Event{Method: "oidc", Reason: "provider error " + boundText(e+": "+q.Get("error_description"), 200)})
		return
	}
	p, err := f.getProvider(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, st.AppRU, "The sign-in service cannot be reached right now. Try again in a moment.", Event{Method: "oidc", Reason: "provider unreachable", Err: err})
		return
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), f.cfg.HTTPClient), 20*time.Second)
	defer cancel()
	tok, err := f.oauth2Config(p, r, s.cfg.Path).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, st.AppRU, "The sign-in service did not confirm the sign-in.", Event{Method: "oidc", Reason: "code exchange failed", Err: err})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.VerifierContext(ctx, &oidc.Config{ClientID: f.cfg.ClientID, Now: f.now}).Verify(ctx, raw)
	if err == nil && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		err = errors.New("nonce does not match")
	}
	if err != nil {
		s.fail(w, r, http.StatusForbidden, st.AppRU, "The sign-in service's answer could not be verified.", Event{Method: "oidc", Reason: "ID token refused", Err: err})
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		s.fail(w, r, http.StatusForbidden, st.AppRU, "The sign-in service's answer could not be read.", Event{Method: "oidc", Reason: "ID token claims", Err: err})
		return
	}
	user, err := f.authorize(claims)
	if err != nil {
		s.fail(w, r, http.StatusForbidden, st.AppRU, "Your account is not allowed to enroll devices here.", Event{Method: "oidc", User: user, Reason: "not allowed", Err: err})
		return
	}
	s.succeed(w, r, "oidc", user, st.AppRU)
}

// authorize names the user of verified ID token claims and applies the
// domain and claim rules.
func (f *oidcFlow) authorize(claims map[string]any) (string, error) {
	user, _ := claims[f.cfg.UsernameClaim].(string)
	if user == "" || cleanHint(user) != user {
		return "", fmt.Errorf("the ID token has no usable %q claim", f.cfg.UsernameClaim)
	}
	if f.cfg.UsernameClaim == "email" {
		if v, present := claims["email_verified"]; present && !claimTrue(v) {
			return user, fmt.Errorf("the e-mail address is not verified (email_verified %v)", v)
		}
	}
	if len(f.cfg.AllowedDomains) > 0 {
		at := strings.LastIndexByte(user, '@')
		if at < 0 || !slices.ContainsFunc(f.cfg.AllowedDomains, func(d string) bool { return strings.EqualFold(d, user[at+1:]) }) {
			return user, fmt.Errorf("the domain of %q is not allowed", user)
		}
	}
	if f.cfg.Claim != "" && !claimHas(claims[f.cfg.Claim], f.cfg.ClaimValues) {
		return user, fmt.Errorf("claim %q holds none of the allowed values", f.cfg.Claim)
	}
	return user, nil
}

// claimTrue reports whether a boolean claim says true: JSON true, or the
// string "true" some providers send. Anything else (false, "false", null,
// a number) is not true. A missing email_verified is not judged here:
// providers such as Entra ID never send it.
func claimTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}

// claimHas reports whether a claim (a string or a list of them) holds one
// of values.
func claimHas(v any, values []string) bool {
	switch x := v.(type) {
	case string:
		return slices.Contains(values, x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && slices.Contains(values, s) {
				return true
			}
		}
	}
	return false
}

// seal encrypts the state for its cookie.
func (f *oidcFlow) seal(st oidcState) (string, error) {
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.DIRECT, Key: f.key}, nil)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	obj, err := enc.Encrypt(b)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// maxStateCookie bounds the cookie open reads.
const maxStateCookie = 4096

// open decrypts and checks a state cookie.
func (f *oidcFlow) open(v string) (oidcState, error) {
	var st oidcState
	if len(v) > maxStateCookie {
		return st, errors.New("state cookie too long")
	}
	obj, err := jose.ParseEncryptedCompact(v, []jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return st, err
	}
	b, err := obj.Decrypt(f.key)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	if f.now().Unix() >= st.Expires {
		return st, errors.New("state expired")
	}
	if checkAppRU(st.AppRU) != nil || st.State == "" || st.Verifier == "" {
		return st, errors.New("state incomplete")
	}
	return st, nil
}

// boundText cuts a provider's text for a log line.
func boundText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
