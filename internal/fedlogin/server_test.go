package fedlogin

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/fedtoken"
)

const testAppRU = "ms-app://s-1-15-2-2666988183-1750391847-2906264630-3525785777-2857982319-3063633125-1907478113"

var testKey = []byte(strings.Repeat("k", 32))

// newPasswords is the PasswordAuth of one user, alice / right-password,
// limited to 3 failures per user name.
func newPasswords(t *testing.T) *enroll.PasswordAuth {
	t.Helper()
	h, _ := bcrypt.GenerateFromPassword([]byte("right-password"), bcrypt.MinCost)
	fake, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	a := enroll.NewPasswordAuth(map[string][]byte{"alice@contoso.com": h}, func(hash, pw []byte) (bool, error) {
		return bcrypt.CompareHashAndPassword(hash, pw) == nil, nil
	}, fake)
	a.LimitFailures(enroll.FailureLimits{PerUserBurst: 3, PerUserEvery: time.Hour})
	return a
}

type testSite struct {
	srv    *httptest.Server
	client *http.Client
	events []Event
}

func newSite(t *testing.T, passwords bool, o *OIDCConfig) *testSite {
	t.Helper()
	ts := &testSite{}
	cfg := Config{Site: "Contoso MDM", OIDC: o, Key: testKey,
		Mint:   func(u string) (string, error) { return fedtoken.Mint(testKey, u, time.Minute, time.Now()) },
		Report: func(_ *http.Request, e Event) { ts.events = append(ts.events, e) },
	}
	if passwords {
		cfg.Passwords = newPasswords(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = httptest.NewTLSServer(s)
	t.Cleanup(ts.srv.Close)
	ts.client = ts.srv.Client()
	ts.client.Jar, _ = cookiejar.New(nil)
	return ts
}

func (ts *testSite) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := ts.client.Get(ts.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (ts *testSite) post(t *testing.T, form url.Values) (int, string) {
	t.Helper()
	resp, err := ts.client.PostForm(ts.srv.URL+DefaultPath, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var (
	csrfField    = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	wresultField = regexp.MustCompile(`<form method="post" action="([^"]+)">\s*<input type="hidden" name="wresult" value="([^"]+)">`)
)

func loginURL(appru, hint string) string {
	v := url.Values{"appru": {appru}}
	if hint != "" {
		v.Set("login_hint", hint)
	}
	return DefaultPath + "?" + v.Encode()
}

func TestPasswordSignIn(t *testing.T) {
	ts := newSite(t, true, nil)
	status, page := ts.get(t, loginURL(testAppRU, "alice@contoso.com"))
	if status != 200 || !strings.Contains(page, "Contoso MDM") || !strings.Contains(page, `value="alice@contoso.com"`) {
		t.Fatalf("form: %d\n%s", status, page)
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field:\n%s", page)
	}
	// The query as MS-MDE2 prints it, "&amp;" included.
	if _, page := ts.get(t, DefaultPath+"?appru="+url.QueryEscape(testAppRU)+"&amp;login_hint=alice@contoso.com"); !strings.Contains(page, `value="alice@contoso.com"`) {
		t.Errorf("login_hint after &amp; lost:\n%s", page)
	}
	form := url.Values{"appru": {testAppRU}, "csrf": {m[1]}, "username": {"alice@contoso.com"}, "password": {"right-password"}}

	// No CSRF field, or a wrong one: refused, no token.
	for name, v := range map[string]string{"missing": "", "wrong": strings.Repeat("A", 43)} {
		f := url.Values{}
		for k, vs := range form {
			f[k] = vs
		}
		f.Set("csrf", v)
		if status, page := ts.post(t, f); status != http.StatusForbidden || strings.Contains(page, "wresult") {
			t.Errorf("CSRF %s: %d\n%s", name, status, page)
		}
	}
	// A wrong password: the form again with the error, no token.
	bad := url.Values{"appru": {testAppRU}, "csrf": {m[1]}, "username": {"alice@contoso.com"}, "password": {"wrong"}}
	if status, page := ts.post(t, bad); status != 200 || !strings.Contains(page, msgWrongPassword) || strings.Contains(page, "wresult") {
		t.Errorf("wrong password: %d\n%s", status, page)
	}
	// The right one: the page posting the token to appru, echoed exactly.
	status, page = ts.post(t, form)
	w := wresultField.FindStringSubmatch(page)
	if status != 200 || w == nil {
		t.Fatalf("sign-in: %d\n%s", status, page)
	}
	if w[1] != testAppRU || strings.Contains(page, "ZgotmplZ") {
		t.Errorf("form action %q, want %q", w[1], testAppRU)
	}
	if c, err := fedtoken.Verify(testKey, w[2], time.Now()); err != nil || c.User != "alice@contoso.com" {
		t.Errorf("token: %+v %v", c, err)
	}
	if !strings.Contains(page, `<button type="submit">Continue</button>`) {
		t.Error("no button for a web view without script")
	}
	// Rate limit: after 3 failures even the right password is refused.
	for i := 0; i < 3; i++ {
		ts.post(t, bad)
	}
	if status, page := ts.post(t, form); status != 200 || !strings.Contains(page, msgRateLimited) || strings.Contains(page, "wresult") {
		t.Errorf("rate-limited: %d\n%s", status, page)
	}
	if last := ts.events[len(ts.events)-1]; !last.RateLimited || last.OK {
		t.Errorf("last event %+v", last)
	}
	for _, e := range ts.events {
		if e.Err != nil && strings.Contains(e.Err.Error(), "right-password") {
			t.Error("a password in an event")
		}
	}
}

func TestAppRURefused(t *testing.T) {
	ts := newSite(t, true, nil)
	for _, appru := range []string{"", "https://evil.example/collect", "http://evil.example/", "javascript:alert(1)", "ms-appx-web://x"} {
		status, page := ts.get(t, loginURL(appru, ""))
		if status != http.StatusBadRequest || strings.Contains(page, `name="password"`) || strings.Contains(page, "evil.example") {
			t.Errorf("appru %q: %d\n%s", appru, status, page)
		}
	}
	// A posted form with another appru is refused too, before any check.
	_, page := ts.get(t, loginURL(testAppRU, ""))
	m := csrfField.FindStringSubmatch(page)
	status, page := ts.post(t, url.Values{"appru": {"https://evil.example/"}, "csrf": {m[1]}, "username": {"alice@contoso.com"}, "password": {"right-password"}})
	if status != http.StatusBadRequest || strings.Contains(page, "wresult") {
		t.Errorf("posted https appru: %d\n%s", status, page)
	}
}

func startMockOIDC(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

func oidcConfig(m *mockoidc.MockOIDC) *OIDCConfig {
	c := m.Config()
	return &OIDCConfig{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Name: "Mock IdP"}
}

func TestOIDCSignIn(t *testing.T) {
	m := startMockOIDC(t)
	o := oidcConfig(m)
	o.AllowedDomains = []string{"contoso.com"}
	o.Claim, o.ClaimValues = "groups", []string{"mdm-enroll"}
	o.Scopes = []string{"email", "groups"}
	ts := newSite(t, false, o)

	status, page := ts.get(t, loginURL(testAppRU, "bob@contoso.com"))
	if status != 200 || !strings.Contains(page, "Sign in with Mock IdP") || strings.Contains(page, `name="password"`) {
		t.Fatalf("form: %d\n%s", status, page)
	}
	m.QueueUser(&mockoidc.MockUser{Subject: "b", Email: "bob@contoso.com", EmailVerified: true, Groups: []string{"staff", "mdm-enroll"}})
	status, page = ts.get(t, DefaultPath+oidcStartPath+"?"+url.Values{"appru": {testAppRU}, "login_hint": {"bob@contoso.com"}}.Encode())
	w := wresultField.FindStringSubmatch(page)
	if status != 200 || w == nil || w[1] != testAppRU {
		t.Fatalf("OIDC sign-in: %d\n%s", status, page)
	}
	if c, err := fedtoken.Verify(testKey, w[2], time.Now()); err != nil || c.User != "bob@contoso.com" {
		t.Errorf("token: %+v %v", c, err)
	}

	// Refused: another domain, a missing group.
	for name, u := range map[string]*mockoidc.MockUser{
		"domain": {Subject: "c", Email: "carol@fabrikam.com", EmailVerified: true, Groups: []string{"mdm-enroll"}},
		"group":  {Subject: "d", Email: "dave@contoso.com", EmailVerified: true, Groups: []string{"staff"}},
	} {
		m.QueueUser(u)
		status, page := ts.get(t, DefaultPath+oidcStartPath+"?"+url.Values{"appru": {testAppRU}}.Encode())
		if status != http.StatusForbidden || strings.Contains(page, "wresult") {
			t.Errorf("%s: %d\n%s", name, status, page)
		}
	}
	// A callback without the state cookie (another browser) is refused.
	fresh := ts.srv.Client()
	resp, err := fresh.Get(ts.srv.URL + DefaultPath + callbackPath + "?code=x&state=y")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("callback without state: %d", resp.StatusCode)
	}
}

// TestStateCookieTamper: a state cookie the server did not seal, or
// sealed under another key, does not open.
func TestStateCookieTamper(t *testing.T) {
	f, err := newOIDCFlow(&OIDCConfig{Issuer: "https://idp.example", ClientID: "c"}, testKey, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.seal(oidcState{State: "s", Verifier: "v", AppRU: testAppRU, Expires: time.Now().Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.open(v); err != nil {
		t.Fatalf("own cookie: %v", err)
	}
	g, _ := newOIDCFlow(&OIDCConfig{Issuer: "https://idp.example", ClientID: "c"}, []byte(strings.Repeat("z", 32)), time.Now)
	if _, err := g.open(v); err == nil {
		t.Error("a cookie of another key opened")
	}
	if _, err := f.open(v[:len(v)-4] + "AAAA"); err == nil {
		t.Error("a changed cookie opened")
	}
	old, _ := f.seal(oidcState{State: "s", Verifier: "v", AppRU: testAppRU, Expires: time.Now().Add(-time.Minute).Unix()})
	if _, err := f.open(old); err == nil {
		t.Error("an expired state opened")
	}
}

// TestAuthorize: the rules on verified ID token claims.
func TestAuthorize(t *testing.T) {
	f, err := newOIDCFlow(&OIDCConfig{Issuer: "https://idp.example", ClientID: "c",
		AllowedDomains: []string{"Contoso.com"}, Claim: "groups", ClaimValues: []string{"mdm"}}, testKey, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]any{"email": "bob@contoso.com", "groups": []any{"x", "mdm"}}
	if u, err := f.authorize(ok); err != nil || u != "bob@contoso.com" {
		t.Fatalf("%q %v", u, err)
	}
	for name, c := range map[string]map[string]any{
		"unverified e-mail": {"email": "bob@contoso.com", "email_verified": false, "groups": []any{"mdm"}},
		"no e-mail":         {"preferred_username": "bob", "groups": []any{"mdm"}},
		"other domain":      {"email": "bob@contoso.com.evil.example", "groups": []any{"mdm"}},
		"group missing":     {"email": "bob@contoso.com", "groups": []any{"x"}},
		"group as text":     {"email": "bob@contoso.com", "groups": "mdmx"},
	} {
		if _, err := f.authorize(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := f.authorize(map[string]any{"email": "bob@contoso.com", "groups": "mdm"}); err != nil {
		t.Errorf("a single-valued claim: %v", err)
	}
}

// TestOIDCProviderDown: a provider that cannot be reached gets an error
// page (502) with a way to try again, not a redirect; the server started
// without it.
func TestOIDCProviderDown(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	issuer := down.URL
	down.Close()
	ts := newSite(t, false, &OIDCConfig{Issuer: issuer, ClientID: "c"})
	ts.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	status, page := ts.get(t, DefaultPath+oidcStartPath+"?"+url.Values{"appru": {testAppRU}}.Encode())
	if status != http.StatusBadGateway || !strings.Contains(page, "Try again") {
		t.Errorf("provider down: %d\n%s", status, page)
	}
}

// TestOIDCRedirect: the redirect to the provider asks for the code flow
// with a PKCE S256 challenge, a nonce, a state and the login hint, and the
// state cookie is Secure, HttpOnly and SameSite=Lax.
func TestOIDCRedirect(t *testing.T) {
	m := startMockOIDC(t)
	ts := newSite(t, false, oidcConfig(m))
	ts.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := ts.client.Get(ts.srv.URL + DefaultPath + oidcStartPath + "?" + url.Values{"appru": {testAppRU}, "login_hint": {"bob@contoso.com"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := loc.Query()
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("nonce") == "" || q.Get("state") == "" || q.Get("login_hint") != "bob@contoso.com" ||
		q.Get("redirect_uri") != ts.srv.URL+DefaultPath+callbackPath || !strings.Contains(q.Get("scope"), "openid") {
		t.Errorf("authorization request %s", loc)
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{stateCookie + "=", "Secure", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("state cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, testAppRU) || strings.Contains(sc, q.Get("state")) {
		t.Error("the state cookie is readable")
	}
}

// TestPageSelfContained: every page loads nothing from elsewhere and
// carries the headers that keep it out of caches and frames.
func TestPageSelfContained(t *testing.T) {
	ts := newSite(t, true, nil)
	resp, err := ts.client.Get(ts.srv.URL + loginURL(testAppRU, ""))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	for _, bad := range []string{"src=", "<link", "http://", "https://", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds %q", bad)
		}
	}
	h := resp.Header
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", h)
	}
	for _, want := range []string{`<html lang="en">`, `<label for="username">`, `<label for="password">`, `autocomplete="current-password"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}
