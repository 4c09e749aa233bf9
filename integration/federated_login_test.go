package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// fedAppRU is an appru as Windows sends it: the ms-app:// URI of its
// enrollment app (a package SID).
const fedAppRU = "ms-app://s-1-15-2-2666988183-1750391847-2906264630-3525785777-2857982319-3063633125-1907478113"

const (
	fedUser     = "alice@contoso.com"
	fedPassword = "fed-correct-horse"
)

// captureHook runs in every document before the page's own scripts: a
// form posted to an ms-app:// address (which only Windows' web view can
// receive) is recorded in window.__posted instead of being sent, whether
// the page's script submits it or a button does. Everything else posts as
// usual.
const captureHook = `(() => {
  window.__posted = null;
  const record = (f) => {
    const a = f.getAttribute('action') || '';
    if (!a.toLowerCase().startsWith('ms-app:')) return false;
    const fields = {};
    for (const [k, v] of new FormData(f)) fields[k] = v;
    window.__posted = {action: a, fields: fields, by: 'submit'};
    return true;
  };
  const submit = HTMLFormElement.prototype.submit;
  HTMLFormElement.prototype.submit = function () { if (!record(this)) submit.call(this); };
  document.addEventListener('submit', (e) => { if (record(e.target)) { window.__posted.by = 'button'; e.preventDefault(); } }, true);
})();`

// posted is what the page posted to appru.
type posted struct {
	Action string            `json:"action"`
	Fields map[string]string `json:"fields"`
	By     string            `json:"by"`
}

// fedServer starts caddy with testdata/federated.Caddyfile: local user
// alice and the mockoidc provider m.
func fedServer(t *testing.T, m *mockoidc.MockOIDC) *server {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(fedPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := m.Config()
	return startCaddyFile(t, filepath.Join("testdata", "federated.Caddyfile"),
		"FED_USER_HASH="+string(hash), "OIDC_ISSUER="+cfg.Issuer,
		"OIDC_CLIENT_ID="+cfg.ClientID, "OIDC_CLIENT_SECRET="+cfg.ClientSecret)
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

// browser starts headless Chromium that resolves the enrollment host to
// this machine and accepts the test CA's certificate, with captureHook
// installed.
func browser(t *testing.T, s *server) context.Context {
	t.Helper()
	bin := requireTool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.IgnoreCertErrors,
		chromedp.Flag("host-resolver-rules", "MAP "+EnrollmentHost+" 127.0.0.1"),
		chromedp.WindowSize(800, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: captureHook}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func fedLoginURL(s *server, appru, hint string) string {
	v := url.Values{"appru": {appru}}
	if hint != "" {
		v.Set("login_hint", hint)
	}
	return s.url("/EnrollmentServer/Login?" + v.Encode())
}

// screenshot saves the page as dir/name.png and fails when it is blank
// (one colour all over).
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// MDM_SCREENSHOTS=<dir> keeps a copy to look at.
	if keep := os.Getenv("MDM_SCREENSHOTS"); keep != "" {
		_ = os.WriteFile(filepath.Join(keep, t.Name()+"-"+name+".png"), b, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if uniform(img) {
		t.Errorf("screenshot %s (%s) is blank", name, file)
	}
}

func uniform(img image.Image) bool {
	bounds := img.Bounds()
	r0, g0, b0, _ := img.At(bounds.Min.X, bounds.Min.Y).RGBA()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			if r, g, b, _ := img.At(x, y).RGBA(); r != r0 || g != g0 || b != b0 {
				return false
			}
		}
	}
	return true
}

// waitPosted waits for the page to post to appru and returns the post.
func waitPosted(t *testing.T, ctx context.Context) posted {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(`input[name="wresult"]`)))
	var p posted
	if err == nil {
		p, err = chromedp.Run(ctx, chromedp.Poll[posted]("window.__posted", chromedp.WithPollingTimeout(30*time.Second)))
	}
	if err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("no post to appru: %v\n%s", err, html)
	}
	return p
}

// emulateToken enrolls a device with a federated token, as Windows does
// after the login page.
func (s *server) emulateToken(user, token string) (string, error) {
	out, err := exec.Command(caddyBin, "mdm", "emulate",
		"--server", "https://"+EnrollmentHost,
		"--connect-to", "127.0.0.1:"+itoa(s.httpsPort),
		"--root", s.rootFile,
		"--user", user, "--token", token).CombinedOutput()
	return string(out), err
}

// federatedRST is a captured RequestSecurityToken whose UsernameToken is
// replaced by the login page's token, base64 as Windows sends it.
func federatedRST(t *testing.T, token string) []byte {
	t.Helper()
	s := string(capture.Read(t, "a-enroll-request.xml"))
	i, j := strings.Index(s, "<wsse:UsernameToken"), strings.Index(s, "</wsse:UsernameToken>")
	bst := `<wsse:BinarySecurityToken ValueType="` + soap.ValueTypeUserToken + `" EncodingType="` + soap.EncodingTypeBase64Binary + `">` +
		base64.StdEncoding.EncodeToString([]byte(token)) + `</wsse:BinarySecurityToken>`
	return []byte(s[:i] + bst + s[j+len("</wsse:UsernameToken>"):])
}

var authServiceURL = regexp.MustCompile(`<AuthenticationServiceUrl>([^<]*)</AuthenticationServiceUrl>`)

// TestFederatedLoginPassword drives the login page in Chromium as Windows'
// web view would: the form with the site's name and the prefilled user, a
// wrong password (error shown, nothing posted), the right one (the token
// posted to appru, echoed exactly), an enrollment with that token, and its
// replay refused.
func TestFederatedLoginPassword(t *testing.T) {
	m := startMockOIDC(t)
	s := fedServer(t, m)
	shots := t.TempDir()

	// Discovery announces the server's own page.
	disc := s.postSOAP("/EnrollmentServer/Discovery.svc", capture.Read(t, "a-discovery-request.xml"))
	mm := authServiceURL.FindSubmatch(disc.body)
	if disc.StatusCode != 200 || !bytes.Contains(disc.body, []byte("<AuthPolicy>Federated</AuthPolicy>")) || mm == nil ||
		string(mm[1]) != fmt.Sprintf("https://%s:%d/EnrollmentServer/Login", EnrollmentHost, s.httpsPort) {
		t.Fatalf("discovery: %d\n%s", disc.StatusCode, disc.body)
	}

	ctx := browser(t, s)
	if err := chromedp.Do(ctx, chromedp.Navigate(fedLoginURL(s, fedAppRU, fedUser)), chromedp.WaitVisible(chromedp.CSS("#password"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, shots, "login")
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	user, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#username")))
	if !strings.Contains(body, "Contoso Federated") || user != fedUser {
		t.Errorf("login page shows %q, user %q", body, user)
	}

	// A wrong password: the error, no post.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#password"), "wrong-password"), chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#error"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, shots, "wrong-password")
	msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#error")))
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	got, _ := chromedp.Run(ctx, chromedp.Evaluate[*posted]("window.__posted"))
	if !strings.Contains(msg, "incorrect") || got != nil || strings.Contains(html, "wresult") {
		t.Errorf("wrong password: error %q, posted %+v", msg, got)
	}

	// The right one: the token goes to appru.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#password"), fedPassword), chromedp.Click(chromedp.CSS("button[type=submit]"))); err != nil {
		t.Fatal(err)
	}
	p := waitPosted(t, ctx)
	screenshot(t, ctx, shots, "signed-in")
	token := p.Fields["wresult"]
	if p.Action != fedAppRU || token == "" || p.By != "submit" {
		t.Fatalf("posted %+v: want the token to %s, sent by the page's script", p, fedAppRU)
	}

	// Windows enrolls with it.
	out, err := s.emulateToken(fedUser, token)
	id := mustPass(t, "enrollment with the login page's token", out, err)
	if u, state, _ := storedDevice(t, s, id); u != fedUser || state != "enrolled" {
		t.Errorf("device %s: user %q state %q", id, u, state)
	}
	// The token is spent: GetPolicies and RequestSecurityToken refuse it
	// with InvalidSecurity, and nothing is enrolled.
	out, err = s.emulateToken(fedUser, token)
	if err == nil || !strings.Contains(out, "a:InvalidSecurity") {
		t.Errorf("replayed token: %v\n%s", err, out)
	}
	r := s.postSOAP("/EnrollmentServer/Enrollment.svc", federatedRST(t, token))
	if r.StatusCode != 500 || !bytes.Contains(r.body, []byte("a:InvalidSecurity")) {
		t.Errorf("replayed RequestSecurityToken: %d\n%s", r.StatusCode, r.body)
	}
	if strings.Contains(s.logs.String(), token) {
		t.Error("the token is in the logs")
	}
}

// TestFederatedLoginRefusals: an appru of another scheme gets an error page
// and no form; a post without the form's CSRF token is refused, in the
// browser and from a client without the cookie.
func TestFederatedLoginRefusals(t *testing.T) {
	m := startMockOIDC(t)
	s := fedServer(t, m)
	shots := t.TempDir()
	ctx := browser(t, s)

	for i, appru := range []string{"https://evil.example/collect", "javascript:alert(1)"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(fedLoginURL(s, appru, fedUser)), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, shots, fmt.Sprintf("bad-appru-%d", i))
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		if !strings.Contains(html, "Sign-in problem") || strings.Contains(html, `name="password"`) || strings.Contains(html, "evil.example") {
			t.Errorf("appru %s:\n%s", appru, html)
		}
		resp := s.do(s.client, http.MethodGet, strings.TrimPrefix(fedLoginURL(s, appru, ""), s.url("")), "", nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("appru %s: HTTP %d", appru, resp.StatusCode)
		}
	}

	// The form without its CSRF field.
	if err := chromedp.Do(ctx, chromedp.Navigate(fedLoginURL(s, fedAppRU, fedUser)), chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('input[name=csrf]').remove()`),
		chromedp.SendKeys(chromedp.CSS("#password"), fedPassword), chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".error"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, shots, "csrf-missing")
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if !strings.Contains(html, "expired") || strings.Contains(html, "wresult") {
		t.Errorf("post without CSRF token:\n%s", html)
	}

	// A client that never loaded the form: right password, no cookie.
	form := url.Values{"appru": {fedAppRU}, "csrf": {strings.Repeat("A", 43)}, "username": {fedUser}, "password": {fedPassword}}
	r := s.do(s.client, http.MethodPost, "/EnrollmentServer/Login", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if r.StatusCode != http.StatusForbidden || bytes.Contains(r.body, []byte("wresult")) {
		t.Errorf("post without the CSRF cookie: %d\n%s", r.StatusCode, r.body)
	}
	// With the cookie of a loaded form but another appru: refused.
	c := s.newClient(s.roots, true)
	c.Jar, _ = cookiejar.New(nil)
	page := s.do(c, http.MethodGet, "/EnrollmentServer/Login?"+url.Values{"appru": {fedAppRU}}.Encode(), "", nil)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page.body)
	if csrf == nil {
		t.Fatalf("no CSRF field:\n%s", page.body)
	}
	form.Set("csrf", string(csrf[1]))
	form.Set("appru", "https://evil.example/collect")
	r = s.do(c, http.MethodPost, "/EnrollmentServer/Login", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if r.StatusCode != http.StatusBadRequest || bytes.Contains(r.body, []byte("wresult")) {
		t.Errorf("posted https appru: %d\n%s", r.StatusCode, r.body)
	}
}

// TestFederatedLoginOIDC: the same page signs a user in through the OpenID
// Connect provider (mockoidc: authorization code with PKCE), the token is
// posted to appru and enrolls a device of that user; a user of a domain not
// allowed gets an error page and no token.
func TestFederatedLoginOIDC(t *testing.T) {
	m := startMockOIDC(t)
	s := fedServer(t, m)
	shots := t.TempDir()
	ctx := browser(t, s)

	m.QueueUser(&mockoidc.MockUser{Subject: "bob-1", Email: "bob@contoso.com", EmailVerified: true})
	if err := chromedp.Do(ctx, chromedp.Navigate(fedLoginURL(s, fedAppRU, "bob@contoso.com")), chromedp.WaitVisible(chromedp.CSS("#oidc"))); err != nil {
		t.Fatal(err)
	}
	label, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#oidc")))
	if !strings.Contains(label, "Contoso SSO") {
		t.Errorf("button %q", label)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#oidc"))); err != nil {
		t.Fatal(err)
	}
	p := waitPosted(t, ctx)
	screenshot(t, ctx, shots, "oidc-signed-in")
	if p.Action != fedAppRU || p.Fields["wresult"] == "" {
		t.Fatalf("posted %+v", p)
	}
	out, err := s.emulateToken("bob@contoso.com", p.Fields["wresult"])
	id := mustPass(t, "enrollment with the OIDC sign-in's token", out, err)
	if u, _, _ := storedDevice(t, s, id); u != "bob@contoso.com" {
		t.Errorf("device user %q, want bob@contoso.com", u)
	}

	m.QueueUser(&mockoidc.MockUser{Subject: "mallory-1", Email: "mallory@fabrikam.com", EmailVerified: true})
	if err := chromedp.Do(ctx, chromedp.Navigate(fedLoginURL(s, fedAppRU, "")), chromedp.WaitVisible(chromedp.CSS("#oidc")),
		chromedp.Click(chromedp.CSS("#oidc")), chromedp.WaitVisible(chromedp.CSS(".error"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, shots, "oidc-refused")
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if !strings.Contains(html, "not allowed") || strings.Contains(html, "wresult") {
		t.Errorf("user of another domain:\n%s", html)
	}
	if !s.logs.waitFor("mallory@fabrikam.com") {
		t.Error("the refusal is not logged")
	}
}
