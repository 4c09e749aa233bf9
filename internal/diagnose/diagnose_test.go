package diagnose

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

const host = "enterpriseenrollment.contoso.com"

// testCA is a CA that signs server certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Diagnose Test Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour * 365),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// leaf issues a server certificate for names, valid until notAfter.
func (ca *testCA) leaf(t *testing.T, notAfter time.Time, names ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mdmSite is an enrollment site: discovery answered by the real enrollment
// service, the other services' paths refusing GET as the handlers do.
type mdmSite struct {
	// announce overrides the URLs discovery announces.
	announce func(ep *enroll.Endpoints)
	// date, if set, is the Date header of every answer.
	date time.Time
	// federated announces a login page at /login, which wants appru.
	federated bool
}

func (m *mdmSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !m.date.IsZero() {
		w.Header().Set("Date", m.date.UTC().Format(http.TimeFormat))
	}
	switch {
	case r.URL.Path == discoveryPath && r.Method == http.MethodGet:
		w.WriteHeader(http.StatusOK)
	case r.URL.Path == discoveryPath:
		body, _ := io.ReadAll(r.Body)
		env, err := soap.Parse(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		base := "https://" + r.Host
		svc := &enroll.Service{ProviderID: "caddy-mdm", Auth: enroll.NewPasswordAuth(nil, nil, nil), MaxEnrollmentVersion: "4.0"}
		if m.federated {
			svc.Auth = &enroll.TokenAuth{ServiceURL: base + "/login"}
		}
		ep := enroll.Endpoints{Discovery: base + discoveryPath, Policy: base + "/EnrollmentServer/Policy.svc",
			Enrollment: base + "/EnrollmentServer/Enrollment.svc", Management: base + managementPath}
		if m.announce != nil {
			m.announce(&ep)
		}
		resp, _, err := svc.Discover(env, ep)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
		w.Write(resp)
	case r.URL.Path == "/login" && strings.HasPrefix(r.URL.Query().Get("appru"), "ms-app://") && r.URL.Query().Get("login_hint") != "":
		w.Write([]byte("<html>sign in</html>"))
	case strings.HasPrefix(r.URL.Path, "/EnrollmentServer/") || r.URL.Path == managementPath:
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "only POST", http.StatusMethodNotAllowed)
	default:
		http.NotFound(w, r)
	}
}

// serve starts an HTTPS server with cert, asking for client certificates
// of clientCA as the quickstart does (verify_if_given).
func serve(t *testing.T, cert tls.Certificate, site http.Handler, clientCA *testCA) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(site)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCA != nil {
		srv.TLS.ClientAuth = tls.VerifyClientCertIfGiven
		srv.TLS.ClientCAs = clientCA.pool()
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func resolves(addrs ...string) func(context.Context, string) ([]string, error) {
	return func(context.Context, string) ([]string, error) { return addrs, nil }
}

func statuses(r *Report) string {
	var b strings.Builder
	r.WriteText(&b)
	return b.String()
}

func wantStatus(t *testing.T, r *Report, name string, want Status) *Check {
	t.Helper()
	c := r.Find(name)
	if c == nil {
		t.Fatalf("no %s check:\n%s", name, statuses(r))
	}
	if c.Status != want {
		t.Errorf("%s is %s, want %s: %s\n%s", name, c.Status, want, c.Detail, statuses(r))
	}
	if (want == Fail || want == Warn) && c.Fix == "" {
		t.Errorf("%s %s without a fix", name, want)
	}
	return c
}

func TestHealthyDeploymentPasses(t *testing.T) {
	ca, deviceCA := newTestCA(t), newTestCA(t)
	addr := serve(t, ca.leaf(t, time.Now().Add(90*24*time.Hour), host), &mdmSite{}, deviceCA)
	r := Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: resolves("192.0.2.10"), Timeout: 5 * time.Second})
	if r.Failed() {
		t.Fatalf("a healthy deployment failed:\n%s", statuses(r))
	}
	for _, name := range []string{"name", "dns", "connect", "tls", "tls-name", "tls-chain", "tls-expiry", "tls-1.2", "tls-resumption", "discovery-get", "discovery-post", "clock", "policy-url", "enrollment-url", "management-url", "client-auth"} {
		wantStatus(t, r, name, Pass)
	}
	if c := r.Find("client-auth"); !strings.Contains(c.Detail, "CN=Diagnose Test Root") {
		t.Errorf("client CA names: %s", c.Detail)
	}
	if c := r.Find("discovery-post"); !strings.Contains(c.Detail, "AuthPolicy OnPremise, EnrollmentVersion 4.0") {
		t.Errorf("discovery: %s", c.Detail)
	}
	for _, name := range []string{"ports", "server-revocation", "device-ca-revocation"} {
		wantStatus(t, r, name, Info)
	}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back.Checks) != len(r.Checks) || back.Host != host {
		t.Errorf("JSON: %v %s", err, buf.String())
	}
}

// TestNoResumptionWarns: a server that never resumes a session (Caddy's
// default with client certificates) is a warning: it works, slower.
func TestNoResumptionWarns(t *testing.T) {
	ca, deviceCA := newTestCA(t), newTestCA(t)
	srv := httptest.NewUnstartedServer(&mdmSite{})
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, time.Now().Add(90*24*time.Hour), host)},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: deviceCA.pool(), SessionTicketsDisabled: true}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	r := Run(context.Background(), Options{Domain: "contoso.com", Connect: srv.Listener.Addr().String(), Roots: ca.pool(), LookupHost: resolves("192.0.2.10"), Timeout: 5 * time.Second})
	c := wantStatus(t, r, "tls-resumption", Warn)
	if !strings.Contains(c.Detail, "full handshake") || !strings.Contains(c.Fix, "no_session_resumption") {
		t.Errorf("resumption check: %+v", c)
	}
	if r.Failed() {
		t.Errorf("no resumption failed the diagnosis:\n%s", statuses(r))
	}
}

func TestWildcardCertificateFailsP1(t *testing.T) {
	ca := newTestCA(t)
	addr := serve(t, ca.leaf(t, time.Now().Add(90*24*time.Hour), "*.contoso.com"), &mdmSite{}, nil)
	r := Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: resolves("192.0.2.10")})
	c := wantStatus(t, r, "tls-name", Fail)
	if !strings.Contains(c.Detail, "wildcard") || !strings.Contains(c.Detail, "P1") || !strings.Contains(c.Fix, host) {
		t.Errorf("P1 failure: %+v", c)
	}
	// The chain itself is fine: only the name is wrong.
	wantStatus(t, r, "tls-chain", Pass)
	if !r.Failed() {
		t.Error("the report does not fail")
	}
}

func TestHostThatDoesNotAnswer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, LookupHost: resolves("192.0.2.10"), Timeout: 2 * time.Second})
	c := wantStatus(t, r, "connect", Fail)
	if !strings.Contains(c.Detail, addr) || !strings.Contains(c.Fix, "443") || !strings.Contains(c.Fix, "firewall") {
		t.Errorf("connect failure: %+v", c)
	}
	if r.Find("tls") != nil || r.Find("discovery-post") != nil {
		t.Error("checks ran past a server that does not answer")
	}
}

func TestNameThatDoesNotResolve(t *testing.T) {
	noSuchHost := func(context.Context, string) ([]string, error) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	r := Run(context.Background(), Options{Domain: "contoso.com", LookupHost: noSuchHost})
	c := wantStatus(t, r, "dns", Fail)
	if !strings.Contains(c.Fix, "record for "+host) {
		t.Errorf("dns fix: %q", c.Fix)
	}
	if len(r.Checks) != 2 {
		t.Errorf("checks after an unresolvable name:\n%s", statuses(r))
	}
	// With --connect, only noted: the PC may use a hosts entry.
	ca := newTestCA(t)
	addr := serve(t, ca.leaf(t, time.Now().Add(90*24*time.Hour), host), &mdmSite{}, nil)
	r = Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: noSuchHost})
	wantStatus(t, r, "dns", Info)
	wantStatus(t, r, "discovery-post", Pass)
}

func TestIPAddressRefused(t *testing.T) {
	r := Run(context.Background(), Options{Domain: "192.0.2.10"})
	c := wantStatus(t, r, "name", Fail)
	if !strings.Contains(c.Fix, "P1") {
		t.Errorf("fix: %q", c.Fix)
	}
}

func TestUntrustedChainAndExpiry(t *testing.T) {
	ca := newTestCA(t)
	addr := serve(t, ca.leaf(t, time.Now().Add(90*24*time.Hour), host), &mdmSite{}, nil)
	// No --root: the test CA is not among the system roots.
	r := Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, LookupHost: resolves("192.0.2.10")})
	c := wantStatus(t, r, "tls-chain", Fail)
	if !strings.Contains(c.Fix, "--root") {
		t.Errorf("chain fix: %q", c.Fix)
	}
	wantStatus(t, r, "tls-expiry", Pass)
	at := func(days int) func() time.Time {
		return func() time.Time { return time.Now().Add(time.Duration(days) * 24 * time.Hour) }
	}
	// Ten days before the end of a 90-day certificate: renewal is late.
	r = Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: resolves("192.0.2.10"), Now: at(80)})
	if c := wantStatus(t, r, "tls-expiry", Warn); !strings.Contains(c.Detail, "expires in 9 days") {
		t.Errorf("expiry: %+v", c)
	}
	// After its end, it has expired (and the chain no longer verifies).
	r = Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: resolves("192.0.2.10"), Now: at(100)})
	wantStatus(t, r, "tls-expiry", Fail)
	wantStatus(t, r, "tls-chain", Fail)
}

// TestShortLivedCertificates: Caddy's internal CA issues 12-hour
// certificates; eleven hours left is no warning, one hour is.
func TestShortLivedCertificates(t *testing.T) {
	ca := newTestCA(t)
	addr := serve(t, ca.leaf(t, time.Now().Add(11*time.Hour), host), &mdmSite{}, nil)
	r := Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: resolves("192.0.2.10")})
	wantStatus(t, r, "tls-expiry", Pass)
	r = Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: resolves("192.0.2.10"),
		Now: func() time.Time { return time.Now().Add(10 * time.Hour) }})
	wantStatus(t, r, "tls-expiry", Warn)
}

func TestClockSkew(t *testing.T) {
	ca := newTestCA(t)
	addr := serve(t, ca.leaf(t, time.Now().Add(90*24*time.Hour), host), &mdmSite{date: time.Now().Add(10 * time.Minute)}, nil)
	r := Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: resolves("192.0.2.10")})
	c := wantStatus(t, r, "clock", Fail)
	if !strings.Contains(c.Detail, "ahead of") || !strings.Contains(c.Fix, "NTP") {
		t.Errorf("clock: %+v", c)
	}
}

func TestAnnouncedURLs(t *testing.T) {
	ca := newTestCA(t)
	site := &mdmSite{announce: func(ep *enroll.Endpoints) {
		ep.Policy = "http://" + host + "/EnrollmentServer/Policy.svc"
		ep.Enrollment = "https://192.0.2.10/EnrollmentServer/Enrollment.svc"
	}}
	addr := serve(t, ca.leaf(t, time.Now().Add(90*24*time.Hour), host), site, nil)
	r := Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: resolves("192.0.2.10")})
	if c := wantStatus(t, r, "policy-url", Fail); !strings.Contains(c.Detail, "not HTTPS") {
		t.Errorf("policy: %+v", c)
	}
	if c := wantStatus(t, r, "enrollment-url", Fail); !strings.Contains(c.Detail, "IP address") {
		t.Errorf("enrollment: %+v", c)
	}

	// A path nothing serves.
	site.announce = func(ep *enroll.Endpoints) { ep.Enrollment = "https://" + host + "/nowhere" }
	r = Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: resolves("192.0.2.10")})
	if c := wantStatus(t, r, "enrollment-url", Fail); !strings.Contains(c.Detail, "404") {
		t.Errorf("unserved: %+v", c)
	}
}

// TestDiscoverIsTheCapture pins the POST body: what a real Windows 10 sent.
func TestDiscoverIsTheCapture(t *testing.T) {
	if discoverRequest != string(capture.Read(t, "a-discovery-request.xml")) {
		t.Fatal("discover-request.xml differs from the capture")
	}
	d := newRun(Options{Domain: "contoso.com"})
	body := d.discoverBody()
	env, err := soap.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if env.To != "https://EnterpriseEnrollment.contoso.com:443/EnrollmentServer/Discovery.svc" || env.MessageID == "urn:uuid:748132ec-a575-4329-b01b-6171a9cf8478" ||
		!bytes.Contains(body, []byte("<EmailAddress>diagnose@contoso.com</EmailAddress>")) || bytes.Contains(body, []byte("mdmwindows")) {
		t.Errorf("request for contoso.com:\n%s", body)
	}
}

func TestSkewSign(t *testing.T) {
	d := newRun(Options{Domain: "contoso.com", Now: func() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) }})
	d.checkClock("Thu, 01 Jan 2026 11:58:00 GMT")
	if c := d.report.Find("clock"); c.Status != Warn || !strings.Contains(c.Detail, "2m0s behind") {
		t.Errorf("%+v", c)
	}
	d.checkClock("garbage")
	if c := d.report.Checks[len(d.report.Checks)-1]; c.Status != Info {
		t.Errorf("%+v", c)
	}
}

// TestFederatedLoginPage: the AuthenticationServiceUrl is opened as
// Windows opens it, with appru and login_hint.
func TestFederatedLoginPage(t *testing.T) {
	ca := newTestCA(t)
	addr := serve(t, ca.leaf(t, time.Now().Add(90*24*time.Hour), host), &mdmSite{federated: true}, nil)
	r := Run(context.Background(), Options{Domain: "contoso.com", Connect: addr, Roots: ca.pool(), LookupHost: resolves("192.0.2.10")})
	c := wantStatus(t, r, "auth-service-url", Pass)
	if !strings.Contains(c.Detail, "appru=ms-app") {
		t.Errorf("login page: %+v", c)
	}
	wantStatus(t, r, "discovery-post", Pass)
}
