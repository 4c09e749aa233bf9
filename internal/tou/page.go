// Package tou is the terms-of-use page of Entra ID enrollment. During
// Entra join (out of the box or from Settings) and when a work account is
// added, Windows opens, in its web view,
//
//	GET <terms URL>?redirect_uri=ms-appx-web://...&client-request-id=<guid>&api-version=1.0[&mode=azureadjoin]
//	Authorization: Bearer <Entra access token>
//
// The page verifies the token (package entra), shows the terms, and sends
// the user back to redirect_uri: ?IsAccepted=true&OpaqueBlob=<blob> on
// Accept, ?IsAccepted=false on Decline (offered only without
// mode=azureadjoin: an organization's device cannot decline), and
// ?error=<code>&error_description=<text> when the token or the request is
// refused. The OpaqueBlob comes back in the enrollment request's
// AdditionalContext (EnrollmentData), where Acceptances checks it.
//
// Only ms-appx-web:// redirect URIs are followed: the page is never an
// open redirect. The bearer token is only on the GET; the Accept/Decline
// form carries a sealed state (HMAC, short-lived) naming the redirect URI,
// the user and the mode, so a POST cannot be forged or pointed elsewhere.
package tou

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/entra"
)

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("tou").Parse(pageHTML))

// RedirectScheme is the scheme of redirect_uri in Settings (Access work or
// school): Windows' web view hands ms-appx-web:// navigations back to the
// enrollment.
const RedirectScheme = "ms-appx-web"

// OOBERedirectScheme is the scheme of redirect_uri when Windows joins Entra
// ID during setup (OOBE): ms-aadj-redir://auth/mdm, whose 302 the setup
// screens catch. Its host must be "auth".
const OOBERedirectScheme = "ms-aadj-redir"

// Bounds of what the page reads.
const (
	maxRedirectURI = 2048
	maxRequestID   = 128
	maxFormBody    = 16 << 10
	// DefaultStateTTL is how long the page may stay open before Accept.
	DefaultStateTTL = 30 * time.Minute
)

// Verifier checks the bearer token (entra.Verifier).
type Verifier interface {
	Verify(ctx context.Context, token string) (*entra.Identity, error)
}

// Event is one outcome of the page, for the log. It holds no token.
type Event struct {
	// Outcome is shown, accepted, declined or refused.
	Outcome         string
	User, TenantID  string
	ClientRequestID string
	// Reason says why a request was refused.
	Reason string
}

// Page serves the terms of use.
type Page struct {
	Verifier    Verifier
	Acceptances *Acceptances
	// Title names the organization or service (the app's display name).
	Title string
	// Terms is the body of the terms, as HTML.
	Terms template.HTML
	// StateTTL bounds how long the page may stay open; default
	// DefaultStateTTL.
	StateTTL time.Duration
	// Log, when set, is told of every outcome.
	Log  func(Event)
	Rand io.Reader
}

// state is what the form carries from the GET to the POST.
type state struct {
	RedirectURI     string `json:"r"`
	ClientRequestID string `json:"c,omitempty"`
	TenantID        string `json:"t"`
	ObjectID        string `json:"o"`
	User            string `json:"u"`
	AzureADJoin     bool   `json:"j,omitempty"`
	Expires         int64  `json:"e"`
}

// TextTerms turns plain text into the HTML of the terms: escaped, one
// paragraph per blank-line-separated block.
func TextTerms(text string) template.HTML {
	var b strings.Builder
	for _, para := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		b.WriteString("<p>" + strings.ReplaceAll(template.HTMLEscapeString(strings.TrimSpace(para)), "\n", "<br>") + "</p>\n")
	}
	return template.HTML(b.String())
}

// ServeHTTP implements http.Handler: GET shows the terms, POST takes the
// decision.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		p.show(w, r)
	case http.MethodPost:
		p.decide(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.errorPage(w, http.StatusMethodNotAllowed, "This page only answers GET and POST.", Event{Reason: "method " + r.Method})
	}
}

func (p *Page) show(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reqID := bounded(q.Get("client-request-id"), maxRequestID)
	redirect, err := CheckRedirectURI(q.Get("redirect_uri"))
	if err != nil {
		p.errorPage(w, http.StatusBadRequest, "This page is opened by Windows during enrollment; the request it received is not one Windows sends.",
			Event{ClientRequestID: reqID, Reason: "redirect_uri: " + err.Error()})
		return
	}
	if v := q.Get("api-version"); v != "" && v != "1.0" {
		p.redirectError(w, redirect, reqID, "invalid_request", "unsupported version", Event{Reason: "api-version " + bounded(v, 20)})
		return
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		p.redirectError(w, redirect, reqID, "unauthorized_client", "no Entra ID access token", Event{Reason: "no bearer token"})
		return
	}
	id, err := p.Verifier.Verify(r.Context(), token)
	if err != nil {
		p.redirectError(w, redirect, reqID, "unauthorized_client", "Entra ID token validation failed", Event{Reason: err.Error()})
		return
	}
	st := state{RedirectURI: redirect.String(), ClientRequestID: reqID, TenantID: id.TenantID, ObjectID: id.ObjectID,
		User: id.User, AzureADJoin: q.Get("mode") == "azureadjoin", Expires: time.Now().Add(p.stateTTL()).Unix()}
	sealed, err := p.Acceptances.s.seal(purposeState, st)
	if err != nil {
		p.redirectError(w, redirect, reqID, "server_error", "internal service error", Event{User: id.User, TenantID: id.TenantID, Reason: err.Error()})
		return
	}
	p.render(w, http.StatusOK, map[string]any{
		"Title": p.title(), "Terms": p.Terms, "User": id.User, "State": sealed,
		"Action": r.URL.Path, "CanDecline": !st.AzureADJoin,
	})
	p.log(Event{Outcome: "shown", User: id.User, TenantID: id.TenantID, ClientRequestID: reqID})
}

func (p *Page) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, http.StatusBadRequest, "The form could not be read.", Event{Reason: "form: " + err.Error()})
		return
	}
	if !sameOrigin(r) {
		p.errorPage(w, http.StatusForbidden, "The form was not sent from this page.", Event{Reason: "cross-origin POST from " + bounded(r.Header.Get("Origin"), 120)})
		return
	}
	var st state
	if err := p.Acceptances.s.open(purposeState, r.PostForm.Get("state"), &st); err != nil {
		p.errorPage(w, http.StatusBadRequest, "The form was not sent from this page.", Event{Reason: "state " + err.Error()})
		return
	}
	// A genuine state names a redirect URI that was checked when sealed.
	redirect, err := CheckRedirectURI(st.RedirectURI)
	if err != nil {
		p.errorPage(w, http.StatusBadRequest, "The form was not sent from this page.", Event{Reason: "state redirect_uri: " + err.Error()})
		return
	}
	ev := Event{User: st.User, TenantID: st.TenantID, ClientRequestID: st.ClientRequestID}
	if time.Now().Unix() >= st.Expires {
		p.redirectError(w, redirect, st.ClientRequestID, "unauthorized_client", "the terms of use page expired", withReason(ev, "state expired"))
		return
	}
	switch r.PostForm.Get("decision") {
	case "accept":
		blob, err := p.Acceptances.Mint(st.TenantID, st.ObjectID, p.nonce())
		if err != nil {
			p.redirectError(w, redirect, st.ClientRequestID, "server_error", "internal service error", withReason(ev, err.Error()))
			return
		}
		redirectTo(w, redirect, url.Values{"IsAccepted": {"true"}, "OpaqueBlob": {blob}}, st.ClientRequestID)
		ev.Outcome = "accepted"
	case "decline":
		if st.AzureADJoin {
			p.errorPage(w, http.StatusBadRequest, "Enrollment of an organization's device cannot be declined.", withReason(ev, "decline in azureadjoin mode"))
			return
		}
		redirectTo(w, redirect, url.Values{"IsAccepted": {"false"}}, st.ClientRequestID)
		ev.Outcome = "declined"
	default:
		p.errorPage(w, http.StatusBadRequest, "Choose Accept or Decline.", withReason(ev, "no decision"))
		return
	}
	p.log(ev)
}

// CheckRedirectURI parses redirect_uri and accepts only what Windows sends:
// an absolute ms-appx-web:// URI with a host, no user info or fragment.
func CheckRedirectURI(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("missing")
	}
	if len(raw) > maxRedirectURI {
		return nil, fmt.Errorf("longer than %d bytes", maxRedirectURI)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URI")
	}
	appx := strings.EqualFold(u.Scheme, RedirectScheme) && u.Host != ""
	oobe := strings.EqualFold(u.Scheme, OOBERedirectScheme) && strings.EqualFold(u.Host, "auth")
	if !(appx || oobe) || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("%q is neither an %s:// URI nor %s://auth/...", bounded(raw, 120), RedirectScheme, OOBERedirectScheme)
	}
	return u, nil
}

// redirectTo sends the browser to base with params (and the request ID,
// as Microsoft recommends) added to its query.
func redirectTo(w http.ResponseWriter, base *url.URL, params url.Values, reqID string) {
	u := *base
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if reqID != "" {
		q.Set("client-request-id", reqID)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Location", u.String())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

func (p *Page) redirectError(w http.ResponseWriter, redirect *url.URL, reqID, code, desc string, ev Event) {
	redirectTo(w, redirect, url.Values{"error": {code}, "error_description": {desc}}, reqID)
	ev.Outcome, ev.ClientRequestID = "refused", reqID
	p.log(ev)
}

func (p *Page) errorPage(w http.ResponseWriter, status int, msg string, ev Event) {
	p.render(w, status, map[string]any{"Title": p.title(), "Error": msg})
	ev.Outcome = "refused"
	p.log(ev)
}

func (p *Page) render(w http.ResponseWriter, status int, data map[string]any) {
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No external assets, scripts or plugins; the page may be framed, as
	// Windows 11 shows it inside its own page.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (p *Page) title() string {
	if p.Title == "" {
		return "Device management"
	}
	return p.Title
}

func (p *Page) stateTTL() time.Duration {
	if p.StateTTL > 0 {
		return p.StateTTL
	}
	return DefaultStateTTL
}

func (p *Page) nonce() string {
	b := make([]byte, 12)
	r := p.Rand
	if r == nil {
		r = rand.Reader
	}
	_, _ = io.ReadFull(r, b)
	return hex.EncodeToString(b)
}

func (p *Page) log(ev Event) {
	if p.Log != nil {
		p.Log(ev)
	}
}

func withReason(ev Event, reason string) Event {
	ev.Reason = reason
	return ev
}

// bearer takes the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// sameOrigin refuses a POST whose Origin names another site. Browsers send
// Origin on form posts; a missing or "null" one (sandboxed web views) is
// left to the sealed state.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func bounded(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
