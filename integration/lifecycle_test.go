package integration

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs7"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// deviceCA reads the quickstart's device CA from Caddy's storage.
func deviceCA(t *testing.T, s *server) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	dir := filepath.Join(s.dataDir(), "pki", "authorities", "mdm")
	root := readPEMCert(t, filepath.Join(dir, "root.crt"))
	keyPEM, err := os.ReadFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := certmagic.PEMDecodePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return root, key
}

// certFor signs a certificate for key with the given validity, as the
// device CA would have (same subject rules).
func certFor(t *testing.T, root *x509.Certificate, caKey crypto.Signer, deviceID string, pub crypto.PublicKey, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	subj, _ := issuer.NewSubject(deviceID)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), RawSubject: subj.DER,
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// age replaces a device's certificate, in storage while Caddy is stopped,
// by one the CA issued 330 days ago and that expires in 30: the device is
// inside its renewal window, as it would be after most of a year.
func age(t *testing.T, s *server, d *enrolledDevice) {
	t.Helper()
	s.stop()
	root, caKey := deviceCA(t, s)
	now := time.Now()
	old := certFor(t, root, caKey, d.id, d.cert.PrivateKey.(crypto.Signer).Public(), now.Add(-330*24*time.Hour), now.Add(30*24*time.Hour))
	st := store.New(&certmagic.FileStorage{Path: s.dataDir()})
	ctx := context.Background()
	rec, err := st.Device(ctx, d.id)
	if err != nil {
		t.Fatal(err)
	}
	rec.Certificate = store.Certificate{Serial: issuer.SerialHex(old), Thumbprint: issuer.Thumbprint(old), Subject: "CN=" + d.id, NotBefore: old.NotBefore, NotAfter: old.NotAfter}
	if err := st.IndexCertificate(ctx, rec.Certificate.Thumbprint, d.id); err != nil {
		t.Fatal(err)
	}
	if err := st.PutDevice(ctx, rec); err != nil {
		t.Fatal(err)
	}
	d.cert = tls.Certificate{Certificate: [][]byte{old.Raw}, PrivateKey: d.cert.PrivateKey, Leaf: old}
	s.start()
}

// renewalRequest is what Windows sends to renew: RequestType Renew and a
// PKCS#7 signed by the old key around the PKCS#10 of a new key. With
// password, it is a manual renewal carrying the user's credentials.
func renewalRequest(t *testing.T, signer *x509.Certificate, signerKey crypto.Signer, newKey crypto.Signer, password string) []byte {
	t.Helper()
	p7, err := pkcs7.Sign(testpki.NewCSR(t, newKey, "renew"), signer, signerKey, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	s := string(asQuickstartUser(t, "a-enroll-request.xml"))
	s = strings.Replace(s, "200512/Issue", "200512/Renew", 1)
	s = strings.Replace(s, soap.ValueTypePKCS10, soap.ValueTypePKCS7, 1)
	s = strings.Replace(s, base64.StdEncoding.EncodeToString(capture.CSR(t, "a-enroll-request.xml")), base64.StdEncoding.EncodeToString(p7), 1)
	if password == "" {
		i, j := strings.Index(s, "<wsse:UsernameToken"), strings.Index(s, "</wsse:UsernameToken>")
		s = s[:i] + s[j+len("</wsse:UsernameToken>"):]
	} else {
		s = strings.Replace(s, quickstartPassword+"<", password+"<", 1)
	}
	return []byte(s)
}

func faultCode(t *testing.T, body []byte) string {
	t.Helper()
	env, err := soap.Parse(body)
	if err != nil {
		t.Fatalf("not SOAP: %v", err)
	}
	return soap.Text(soap.Path(env.Body, "Code", "Subcode", "Value")) + " " + soap.Text(soap.Path(env.Body, "Reason", "Text"))
}

// notEligibleToRenew reports whether body is MS-MDE2's renewal refusal:
// subcode Authorization, ErrorType NotEligibleToRenew (0x80180016).
func notEligibleToRenew(t *testing.T, body []byte) bool {
	t.Helper()
	env, err := soap.Parse(body)
	if err != nil {
		t.Fatalf("not SOAP: %v", err)
	}
	return soap.Text(soap.Path(env.Body, "Code", "Subcode", "Value")) == "s:Authorization" &&
		soap.Text(soap.Path(env.Body, "Detail", "DeviceEnrollmentServiceError", "ErrorType")) == "NotEligibleToRenew"
}

func TestRenewalEndToEnd(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	b := enrollDevice(t, s, "b-enroll-request.xml", deviceB)

	// Device B just enrolled: not yet in its window.
	r := s.do(s.deviceClient(b.cert), http.MethodPost, "/EnrollmentServer/Enrollment.svc", "application/soap+xml; charset=utf-8",
		renewalRequest(t, b.cert.Leaf, b.cert.PrivateKey.(crypto.Signer), testpki.NewKey(t, "rsa"), ""))
	if got := faultCode(t, r.body); !notEligibleToRenew(t, r.body) || !strings.Contains(got, "0x80180016") {
		t.Errorf("renewal outside the window: %s", got)
	}

	age(t, s, a)
	oldCert := a.cert
	newKey := testpki.NewKey(t, "rsa")
	// ROBO: the old certificate on the TLS connection, no credentials.
	r = s.do(s.deviceClient(oldCert), http.MethodPost, "/EnrollmentServer/Enrollment.svc", "application/soap+xml; charset=utf-8",
		renewalRequest(t, oldCert.Leaf, oldCert.PrivateKey.(crypto.Signer), newKey, ""))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("ROBO renewal: %d %s", r.StatusCode, r.body)
	}
	doc, newCert := enrollmentResult(t, r.body)
	pub, _ := x509.MarshalPKIXPublicKey(newKey.Public())
	root, _ := deviceCA(t, s)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	if _, err := newCert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || string(newCert.RawSubjectPublicKeyInfo) != string(pub) {
		t.Fatalf("renewed certificate: chain %v, new key %v", err, string(newCert.RawSubjectPublicKeyInfo) == string(pub))
	}
	if newCert.Subject.CommonName != deviceA || doc.Child("APPLICATION").Value("PROVIDER-ID") != "caddy-mdm" {
		t.Errorf("renewed %s, document %+v", newCert.Subject, doc.Child("APPLICATION"))
	}
	if !s.logs.waitFor(`"msg":"certificate renewed"`) {
		t.Error("renewal not logged")
	}

	// Overlap: the old certificate works until the new one is used.
	newTLS := tls.Certificate{Certificate: [][]byte{newCert.Raw}, PrivateKey: newKey, Leaf: newCert}
	session := func(c tls.Certificate, id string) string {
		_, m := s.manage(s.deviceClient(c), sessionMsg(t, "a-syncml-session1-msg1.xml", id))
		return m.Commands[0].Data
	}
	if got := session(oldCert, "10"); got != "200" {
		t.Errorf("old certificate before the switch: %s", got)
	}
	if got := session(newTLS, "11"); got != "200" {
		t.Errorf("new certificate: %s", got)
	}
	if got := session(oldCert, "12"); got != "403" {
		t.Errorf("old certificate after the switch: %s, want 403", got)
	}

	// Refusals, each NotEligibleToRenew (0x80180016).
	otherCA := testpki.NewCA(t, "ecdsa") // another CA: a foreign certificate
	foreignKey := testpki.NewKey(t, "rsa")
	foreign := certFor(t, otherCA.Root, otherCA.Key, deviceA, foreignKey.Public(), time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	realRoot, realKey := deviceCA(t, s)
	expiredKey := testpki.NewKey(t, "rsa")
	expired := certFor(t, realRoot, realKey, deviceA, expiredKey.Public(), time.Now().Add(-400*24*time.Hour), time.Now().Add(-time.Hour))
	for name, req := range map[string][]byte{
		"foreign certificate (manual)":  renewalRequest(t, foreign, foreignKey, testpki.NewKey(t, "rsa"), quickstartPassword),
		"expired certificate (manual)":  renewalRequest(t, expired, expiredKey, testpki.NewKey(t, "rsa"), quickstartPassword),
		"replaced certificate (manual)": renewalRequest(t, oldCert.Leaf, oldCert.PrivateKey.(crypto.Signer), testpki.NewKey(t, "rsa"), quickstartPassword),
	} {
		r := s.postSOAP("/EnrollmentServer/Enrollment.svc", req)
		if got := faultCode(t, r.body); !notEligibleToRenew(t, r.body) {
			t.Errorf("%s: %s", name, got)
		}
	}
	// A retired device's certificate.
	if r := s.admin(http.MethodPost, "/mdm/devices/"+deviceB+"/retire", `{"reason":"lost"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("retire: %d %s", r.StatusCode, r.body)
	}
	r = s.do(s.deviceClient(b.cert), http.MethodPost, "/EnrollmentServer/Enrollment.svc", "application/soap+xml; charset=utf-8",
		renewalRequest(t, b.cert.Leaf, b.cert.PrivateKey.(crypto.Signer), testpki.NewKey(t, "rsa"), ""))
	if got := faultCode(t, r.body); !notEligibleToRenew(t, r.body) {
		t.Errorf("retired device: %s", got)
	}
	if !s.logs.waitFor(`"fault":"NotEligibleToRenew"`) {
		t.Error("renewal refusals not logged")
	}
}

// TestAdminUnenrollEndToEnd: `caddy mdm unenroll` queues the Unenroll Exec,
// the next session delivers it, the device is retired and its certificate
// refused from then on.
func TestAdminUnenrollEndToEnd(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	dev := s.deviceClient(a.cert)
	out, err := s.cli("unenroll", deviceA)
	if err != nil || !strings.Contains(out, "Unenroll") {
		t.Fatalf("caddy mdm unenroll: %v\n%s", err, out)
	}
	_, m := s.manage(dev, capture.Read(t, "a-syncml-session1-msg1.xml"))
	var exec bool
	for _, c := range m.Commands {
		exec = exec || (c.Name == "Exec" && c.Items[0].Target == "./Vendor/MSFT/DMClient/Provider/caddy-mdm/Unenroll")
	}
	if !exec || !m.Final {
		t.Fatalf("Unenroll not delivered: %+v", m.Commands)
	}
	_, m = s.manage(dev, sessionMsg(t, "a-syncml-session1-msg1.xml", "2"))
	if m.Commands[0].Data != "403" {
		t.Errorf("certificate after unenrollment: %s", m.Commands[0].Data)
	}
	r := s.admin(http.MethodGet, "/mdm/devices/"+deviceA, "")
	var d struct {
		Device struct{ State, StateReason string } `json:"device"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil || d.Device.State != "retired" {
		t.Errorf("device after unenrollment: %s", r.body)
	}
	if out, err := s.cli("show", deviceA); err != nil || !strings.Contains(out, "retired") {
		t.Errorf("caddy mdm show: %v\n%s", err, out)
	}
	if r := s.admin(http.MethodPost, "/mdm/devices/"+deviceA+"/unenroll", ""); r.StatusCode != http.StatusConflict {
		t.Errorf("unenroll of a retired device: %d", r.StatusCode)
	}
}
