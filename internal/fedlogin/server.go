// Package fedlogin is the login page of federated enrollment, the
// AuthenticationServiceUrl of MS-MDE2: Windows opens
// GET <page>?appru=ms-app://...&login_hint=<UPN> in its web view; once the
// user has signed in, the page answers with a form that posts the field
// wresult, an enrollment token (package fedtoken), to appru, and Windows
// sends that token back in GetPolicies and RequestSecurityToken.
//
// Users sign in with a password of the configured local accounts (checked
// by the same PasswordAuth as OnPremise enrollment, rate limits included)
// or through an OpenID Connect provider (authorization code flow with PKCE).
// The package knows nothing of Caddy.
package fedlogin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
)

// DefaultPath is where the page is served by default.
const DefaultPath = "/EnrollmentServer/Login"

// Sub-paths of the page.
const (
	oidcStartPath = "/oidc"
	callbackPath  = "/callback"
)

// maxFormBody bounds a posted sign-in form.
const maxFormBody = 16 << 10

// PasswordChecker checks a user name and password (enroll.PasswordAuth).
type PasswordChecker interface {
	Authenticate(ctx context.Context, c enroll.Credentials) (string, error)
}

// Config sets up a login page.
type Config struct {
	// Path is the page's path; the OpenID Connect sign-in starts at
	// Path+"/oidc" and returns to Path+"/callback". Default: DefaultPath.
	Path string
	// Site is the name shown on every page (the mdm display_name).
	Site string
	// Passwords checks local users; nil when there are none.
	Passwords PasswordChecker
	// OIDC signs users in through a provider; nil for none.
	OIDC *OIDCConfig
	// Mint makes the enrollment token of a signed-in user.
	Mint func(user string) (string, error)
	// Key (at least 32 bytes) protects the OpenID Connect state cookie.
	Key []byte
	// ClientAddr returns the client's address, for the rate limits of
	// password checks (behind a proxy, the forwarded one). Default:
	// r.RemoteAddr.
	ClientAddr func(*http.Request) string
	// Report, if set, is told of every sign-in and every refusal, for logs.
	// Events never hold a password or a token.
	Report func(*http.Request, Event)
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

// Event is a sign-in or a refusal, for logs.
type Event struct {
	// OK is set for a successful sign-in (a token was handed out).
	OK bool
	// Method is "password" or "oidc".
	Method string
	// User is who signed in, or the user name tried ("" if none).
	User string
	// Reason says why a request was refused; Err is the cause, if any.
	Reason string
	Err    error
	// RateLimited is set when a password check was refused for too many
	// failures.
	RateLimited bool
}

// Server serves the login page.
type Server struct {
	cfg  Config
	oidc *oidcFlow
}

// New checks cfg and returns its Server.
func New(cfg Config) (*Server, error) {
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if !strings.HasPrefix(cfg.Path, "/") || strings.HasSuffix(cfg.Path, "/") {
		return nil, fmt.Errorf("login path %q must start with / and not end with one", cfg.Path)
	}
	if cfg.Passwords == nil && cfg.OIDC == nil {
		return nil, errors.New("the login page needs local users or an OpenID Connect provider")
	}
	if cfg.Mint == nil {
		return nil, errors.New("the login page needs a token minter")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = func(r *http.Request) string { return r.RemoteAddr }
	}
	s := &Server{cfg: cfg}
	if cfg.OIDC != nil {
		f, err := newOIDCFlow(cfg.OIDC, cfg.Key, cfg.Now)
		if err != nil {
			return nil, err
		}
		s.oidc = f
	}
	return s, nil
}

// Path is where the page is served; sub-paths below it belong to it too.
func (s *Server) Path() string { return s.cfg.Path }

// ServeHTTP answers the page, its form and the OpenID Connect sign-in.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch sub := strings.TrimPrefix(r.URL.Path, s.cfg.Path); {
	case sub == "" || sub == "/":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.showForm(w, r)
		case http.MethodPost:
			s.signInPassword(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			s.fail(w, r, http.StatusMethodNotAllowed, "", "This page only answers GET and POST.", Event{Reason: "method " + r.Method})
		}
	case sub == oidcStartPath && s.oidc != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.startOIDC(w, r)
	case sub == callbackPath && s.oidc != nil && r.Method == http.MethodGet:
		s.finishOIDC(w, r)
	default:
		s.fail(w, r, http.StatusNotFound, "", "There is no such page.", Event{Reason: "no such page " + r.URL.Path})
	}
}

// showForm answers GET ?appru=&login_hint= with the sign-in form.
func (s *Server) showForm(w http.ResponseWriter, r *http.Request) {
	// MS-MDE2 writes the request as "?appru=<appid>&amp;login_hint=<UPN>";
	// a client that sends the entity literally still gets its hint.
	q, _ := url.ParseQuery(strings.ReplaceAll(r.URL.RawQuery, "&amp;", "&"))
	appru := q.Get("appru")
	if err := checkAppRU(appru); err != nil {
		s.fail(w, r, http.StatusBadRequest, "", "This sign-in page returns only to the Windows enrollment app, and the address it was given (appru) is not one.", Event{Reason: "bad appru", Err: err})
		return
	}
	s.form(w, r, http.StatusOK, appru, cleanHint(q.Get("login_hint")), "")
}

// form renders the sign-in form with a fresh or the browser's CSRF token.
func (s *Server) form(w http.ResponseWriter, r *http.Request, status int, appru, user, msg string) {
	page := loginPage{
		Site: s.cfg.Site, Error: msg, User: user, CSS: css,
		Action: s.cfg.Path, AppRU: appru, Passwords: s.cfg.Passwords != nil,
	}
	if page.Passwords {
		page.CSRF = csrfToken(w, r)
	}
	if s.oidc != nil {
		v := url.Values{"appru": {appru}}
		if user != "" {
			v.Set("login_hint", user)
		}
		page.OIDC = s.cfg.Path + oidcStartPath + "?" + v.Encode()
		page.OIDCName = s.oidc.name
	}
	_ = render(w, status, "login", page)
}

// succeed mints the user's token and answers with the page that posts it
// to appru.
func (s *Server) succeed(w http.ResponseWriter, r *http.Request, method, user, appru string) {
	if err := checkAppRU(appru); err != nil {
		// Checked before; a second look costs nothing next to a token.
		s.fail(w, r, http.StatusBadRequest, "", "The address to return to (appru) is not the Windows enrollment app.", Event{Method: method, User: user, Reason: "bad appru", Err: err})
		return
	}
	token, err := s.cfg.Mint(user)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", "The server could not finish the sign-in.", Event{Method: method, User: user, Reason: "minting the token", Err: err})
		return
	}
	s.report(r, Event{OK: true, Method: method, User: user})
	_ = render(w, http.StatusOK, "post", postPage{
		Site: s.cfg.Site, User: user, Token: token, CSS: css, Script: autoPost,
		AppRU: templateURL(appru),
	})
}

// fail answers an error page and reports the refusal. retryAppRU, if
// valid, offers to start again.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, retryAppRU, msg string, ev Event) {
	s.report(r, ev)
	page := errorPage{Site: s.cfg.Site, Error: msg, CSS: css}
	if checkAppRU(retryAppRU) == nil {
		page.Retry = s.cfg.Path + "?" + url.Values{"appru": {retryAppRU}}.Encode()
	}
	_ = render(w, status, "error", page)
}

func (s *Server) report(r *http.Request, ev Event) {
	if s.cfg.Report != nil {
		s.cfg.Report(r, ev)
	}
}
