package tou

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/entra"
)

// fakeVerifier accepts the token "good" as ada of tenant t1.
type fakeVerifier struct{}

func (fakeVerifier) Verify(_ context.Context, token string) (*entra.Identity, error) {
	if token != "good" {
		return nil, &entra.Error{Check: entra.CheckSignature, Reason: "bad"}
	}
	return &entra.Identity{TenantID: "t1", ObjectID: "o1", User: "ada@contoso.com"}, nil
}

const redirect = "ms-appx-web://Microsoft.AAD.BrokerPlugin/ToUResponse"

func newPage(t *testing.T) *Page {
	acc, err := NewAcceptances([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return &Page{Verifier: fakeVerifier{}, Acceptances: acc, Title: "Contoso", Terms: TextTerms("Rule <one>.\n\nRule two.")}
}

func get(p *Page, query, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "https://enterpriseenrollment.contoso.com/EnrollmentServer/TermsOfUse?"+query, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	return w
}

func post(p *Page, form url.Values, origin string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "https://enterpriseenrollment.contoso.com/EnrollmentServer/TermsOfUse", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	return w
}

var stateRE = regexp.MustCompile(`name="state" value="([^"]+)"`)

func query(mode string) string {
	q := url.Values{"redirect_uri": {redirect}, "client-request-id": {"34be581c-6ebd-49d6-a4e1-150eff4b7213"}, "api-version": {"1.0"}}
	if mode != "" {
		q.Set("mode", mode)
	}
	return q.Encode()
}

func TestAcceptRedirectsWithABoundBlob(t *testing.T) {
	p := newPage(t)
	w := get(p, query(""), "good")
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, "ada@contoso.com") || !strings.Contains(body, "Rule &lt;one&gt;.") || !strings.Contains(body, `id="decline"`) {
		t.Fatalf("page %d:\n%s", w.Code, body)
	}
	m := stateRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no state in the form")
	}
	w = post(p, url.Values{"state": {m[1]}, "decision": {"accept"}}, "https://enterpriseenrollment.contoso.com")
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusFound || loc.Scheme != "ms-appx-web" || loc.Query().Get("IsAccepted") != "true" ||
		loc.Query().Get("client-request-id") == "" {
		t.Fatalf("accept: %d %q", w.Code, w.Header().Get("Location"))
	}
	blob := loc.Query().Get("OpaqueBlob")
	if err := p.Acceptances.CheckAcceptance(blob, "t1", "o1"); err != nil {
		t.Fatalf("blob refused: %v", err)
	}
	if err := p.Acceptances.CheckAcceptance(blob, "t1", "o2"); err == nil {
		t.Fatal("blob accepted for another user")
	}
	if err := p.Acceptances.CheckAcceptance(m[1], "t1", "o1"); err == nil {
		t.Fatal("the form state passed as a blob")
	}
	p.Acceptances.Now = func() time.Time { return time.Now().Add(DefaultBlobTTL + time.Second) }
	if err := p.Acceptances.CheckAcceptance(blob, "t1", "o1"); err == nil {
		t.Fatal("expired blob accepted")
	}
}

func TestDecline(t *testing.T) {
	p := newPage(t)
	st := stateRE.FindStringSubmatch(get(p, query(""), "good").Body.String())[1]
	w := post(p, url.Values{"state": {st}, "decision": {"decline"}}, "")
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusFound || loc.Query().Get("IsAccepted") != "false" || loc.Query().Get("OpaqueBlob") != "" {
		t.Fatalf("decline: %d %q", w.Code, w.Header().Get("Location"))
	}
	// Entra join: no Decline button, and a forged decline is refused.
	body := get(p, query("azureadjoin"), "good").Body.String()
	if strings.Contains(body, `id="decline"`) {
		t.Fatal("azureadjoin page offers Decline")
	}
	st = stateRE.FindStringSubmatch(body)[1]
	if w := post(p, url.Values{"state": {st}, "decision": {"decline"}}, ""); w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
		t.Fatalf("decline in azureadjoin: %d %q", w.Code, w.Header().Get("Location"))
	}
}

// TestOOBERedirect: during setup (OOBE) Windows joins Entra ID with
// redirect_uri ms-aadj-redir://auth/mdm and catches the page's 302 to it;
// Accept goes there with IsAccepted and the blob. Another host of that
// scheme is refused.
func TestOOBERedirect(t *testing.T) {
	p := newPage(t)
	q := url.Values{"redirect_uri": {"ms-aadj-redir://auth/mdm"}, "client-request-id": {"34be581c-6ebd-49d6-a4e1-150eff4b7213"},
		"api-version": {"1.0"}, "mode": {"azureadjoin"}}
	body := get(p, q.Encode(), "good").Body.String()
	m := stateRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no page for the OOBE redirect_uri: %s", body)
	}
	w := post(p, url.Values{"state": {m[1]}, "decision": {"accept"}}, "")
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusFound || loc.Scheme != "ms-aadj-redir" || loc.Host != "auth" || loc.Path != "/mdm" ||
		loc.Query().Get("IsAccepted") != "true" || loc.Query().Get("OpaqueBlob") == "" {
		t.Fatalf("accept in OOBE: %d %q", w.Code, w.Header().Get("Location"))
	}
	q.Set("redirect_uri", "ms-aadj-redir://evil.example/mdm")
	if w := get(p, q.Encode(), "good"); w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
		t.Errorf("ms-aadj-redir to another host: %d %q", w.Code, w.Header().Get("Location"))
	}
}

func TestRefusals(t *testing.T) {
	p := newPage(t)
	for name, c := range map[string]struct {
		query, token string
		status       int
		errCode      string
	}{
		"bad token":       {query(""), "forged", 302, "unauthorized_client"},
		"no token":        {query(""), "", 302, "unauthorized_client"},
		"api version":     {strings.Replace(query(""), "api-version=1.0", "api-version=9.9", 1), "good", 302, "invalid_request"},
		"https redirect":  {url.Values{"redirect_uri": {"https://evil.example/steal"}}.Encode(), "good", 400, ""},
		"js redirect":     {url.Values{"redirect_uri": {"javascript:alert(1)"}}.Encode(), "good", 400, ""},
		"no redirect":     {"api-version=1.0", "good", 400, ""},
		"userinfo":        {url.Values{"redirect_uri": {"ms-appx-web://x@evil.example/"}}.Encode(), "good", 400, ""},
		"bad token 2 bad": {url.Values{"redirect_uri": {"http://evil.example/"}}.Encode(), "forged", 400, ""},
	} {
		t.Run(name, func(t *testing.T) {
			w := get(p, c.query, c.token)
			if w.Code != c.status {
				t.Fatalf("%d, want %d: %s", w.Code, c.status, w.Body.String())
			}
			loc, _ := url.Parse(w.Header().Get("Location"))
			if c.errCode != "" {
				if loc.Scheme != "ms-appx-web" || loc.Query().Get("error") != c.errCode || loc.Query().Get("error_description") == "" {
					t.Fatalf("Location %q", w.Header().Get("Location"))
				}
			} else if w.Header().Get("Location") != "" {
				t.Fatalf("redirected to %q", w.Header().Get("Location"))
			}
		})
	}
	// Forged or altered states and foreign origins are refused without a redirect.
	st := stateRE.FindStringSubmatch(get(p, query(""), "good").Body.String())[1]
	forged, _ := (sealer{secret: []byte(strings.Repeat("x", 32))}).seal(purposeState, state{RedirectURI: "ms-appx-web://evil/", Expires: time.Now().Add(time.Hour).Unix()})
	for name, c := range map[string]struct {
		state, origin string
		status        int
	}{
		"forged state":   {forged, "", 400},
		"altered state":  {"x" + st, "", 400},
		"no state":       {"", "", 400},
		"foreign origin": {st, "https://evil.example", 403},
	} {
		if w := post(p, url.Values{"state": {c.state}, "decision": {"accept"}}, c.origin); w.Code != c.status || w.Header().Get("Location") != "" {
			t.Errorf("%s: %d %q", name, w.Code, w.Header().Get("Location"))
		}
	}
	if _, err := NewAcceptances([]byte("short")); err == nil {
		t.Error("short secret accepted")
	}
	if err := p.Acceptances.CheckAcceptance("garbage", "t1", "o1"); !errors.Is(err, err) || err == nil {
		t.Error("garbage blob accepted")
	}
}
