package enroll

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/lifecycle"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs7"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// keyedDevice is a device that enrolled with a key the test holds.
type keyedDevice struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func enrollWithKey(t *testing.T, s *testService, file string) keyedDevice {
	t.Helper()
	key := testpki.NewKey(t, "rsa")
	_, issued, err := s.enroll(t, replaceCSR(t, capture.Read(t, file), testpki.NewCSR(t, key, "x")))
	if err != nil {
		t.Fatal(err)
	}
	return keyedDevice{cert: issued.Certificate, key: key}
}

// renewalRequest builds a Renew request as Windows does: the captured
// envelope with RequestType Renew and a PKCS#7 signed by the old key around
// a new PKCS#10; without UsernameToken unless keepCreds.
func renewalRequest(t *testing.T, dev keyedDevice, newKey crypto.Signer, valueType string, keepCreds bool) []byte {
	t.Helper()
	p7, err := pkcs7.Sign(testpki.NewCSR(t, newKey, "renew"), dev.cert, dev.key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	s := string(capture.Read(t, "a-enroll-request.xml"))
	s = strings.Replace(s, "200512/Issue", "200512/Renew", 1)
	s = strings.Replace(s, soap.ValueTypePKCS10, valueType, 1)
	s = string(replaceCSRValue(t, []byte(s), p7))
	if !keepCreds {
		i, j := strings.Index(s, "<wsse:UsernameToken"), strings.Index(s, "</wsse:UsernameToken>")
		s = s[:i] + s[j+len("</wsse:UsernameToken>"):]
	}
	return []byte(s)
}

func replaceCSRValue(t *testing.T, req, der []byte) []byte {
	t.Helper()
	i := bytes.Index(req, []byte("MIICzjCCAboCAQAw"))
	j := bytes.Index(req[i:], []byte("<"))
	return append(append(append([]byte(nil), req[:i]...), base64.StdEncoding.EncodeToString(der)...), req[i+j:]...)
}

func (s *testService) renew(t *testing.T, req []byte, peer ...*x509.Certificate) ([]byte, *Issued, error) {
	t.Helper()
	env := parseEnvelope(t, req)
	return s.RequestToken(context.Background(), env, CredentialsFrom(env, peer), testEndpoints)
}

// inWindow moves the service clock into the certificate's renewal window.
func inWindow(s *testService, c *x509.Certificate) {
	s.Now = func() time.Time { return c.NotAfter.Add(-10 * 24 * time.Hour) }
}

func TestROBORenewal(t *testing.T) {
	for _, vt := range []string{soap.ValueTypePKCS7, soap.ValueTypePKCS7Secext} {
		s := newTestService(t, "ecdsa")
		dev := enrollWithKey(t, s, "a-enroll-request.xml")
		inWindow(s, dev.cert)
		newKey := testpki.NewKey(t, "rsa")
		resp, issued, err := s.renew(t, renewalRequest(t, dev, newKey, vt, false), dev.cert)
		if err != nil {
			t.Fatalf("%s: %v", vt, err)
		}
		newCert := issued.Certificate
		pub, _ := x509.MarshalPKIXPublicKey(newKey.Public())
		if !bytes.Equal(newCert.RawSubjectPublicKeyInfo, pub) {
			t.Error("renewed certificate does not carry the new key")
		}
		if newCert.Subject.CommonName != deviceAID || newCert.Equal(dev.cert) {
			t.Errorf("renewed certificate %s", newCert.Subject)
		}
		checkPrintableSubject(t, newCert.RawSubject)
		_, doc := provisioningDocument(t, resp)
		if doc.Child("APPLICATION").Value("PROVIDER-ID") != "caddy-mdm" || doc.Child("APPLICATION").Value("APPID") != "w7" ||
			doc.Find("DMClient", "Provider", "caddy-mdm").Value("EntDMID") != deviceAID {
			t.Error("renewal document lacks APPLICATION/PROVIDER-ID or EntDMID")
		}
		if got := decodeCert(t, doc.Find("CertificateStore", "My", "User").Children[0]); !got.Equal(newCert) {
			t.Error("renewal document does not carry the new certificate")
		}
		if doc.Child("APPLICATION").ChildrenOf("APPAUTH") != nil {
			t.Error("renewal must not replace the digest credentials")
		}
		rec, _ := s.Store.Device(context.Background(), deviceAID)
		if rec.Certificate.Thumbprint != issuer.Thumbprint(newCert) || rec.PreviousCertificate == nil ||
			rec.PreviousCertificate.Thumbprint != issuer.Thumbprint(dev.cert) {
			t.Errorf("record after renewal: %+v / %+v", rec.Certificate, rec.PreviousCertificate)
		}
		// Its common name is the device ID: found by it, with no index entry.
		if id, err := s.Certs.Lookup(context.Background(), []*x509.Certificate{newCert}); err != nil || id != deviceAID {
			t.Errorf("new certificate finds %q, %v", id, err)
		}
		if _, err := s.Store.DeviceByCertificate(context.Background(), issuer.Thumbprint(newCert)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an index entry for a certificate named by its device ID: %v", err)
		}
	}
}

const deviceAID = "1E08C6E95D8BB843B1278FF45BC60CC6"

func TestRenewalRefusals(t *testing.T) {
	type setup func(t *testing.T, s *testService, dev keyedDevice) ([]byte, []*x509.Certificate)
	robo := func(t *testing.T, s *testService, dev keyedDevice) ([]byte, []*x509.Certificate) {
		inWindow(s, dev.cert)
		return renewalRequest(t, dev, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, false), []*x509.Certificate{dev.cert}
	}
	for name, tc := range map[string]struct {
		setup setup
		code  soap.FaultCode
	}{
		"outside the window": {func(t *testing.T, s *testService, dev keyedDevice) ([]byte, []*x509.Certificate) {
			return renewalRequest(t, dev, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, false), []*x509.Certificate{dev.cert}
		}, soap.NotEligibleToRenew},
		"expired": {func(t *testing.T, s *testService, dev keyedDevice) ([]byte, []*x509.Certificate) {
			req, peer := robo(t, s, dev)
			s.Now = func() time.Time { return dev.cert.NotAfter.Add(time.Hour) }
			return req, peer
		}, soap.NotEligibleToRenew},
		"foreign certificate": {func(t *testing.T, s *testService, dev keyedDevice) ([]byte, []*x509.Certificate) {
			other := newTestService(t, "ecdsa")
			foreign := enrollWithKey(t, other, "a-enroll-request.xml")
			inWindow(s, foreign.cert)
			return renewalRequest(t, foreign, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, false), []*x509.Certificate{foreign.cert}
		}, soap.NotEligibleToRenew},
		"retired device": {func(t *testing.T, s *testService, dev keyedDevice) ([]byte, []*x509.Certificate) {
			if _, err := (&lifecycle.Service{Store: s.Store, Now: time.Now}).Retire(context.Background(), deviceAID, lifecycle.Retired("lost")); err != nil {
				t.Fatal(err)
			}
			return robo(t, s, dev)
		}, soap.NotEligibleToRenew},
		"another device's certificate on TLS": {func(t *testing.T, s *testService, dev keyedDevice) ([]byte, []*x509.Certificate) {
			// B on other hardware, as its own user: A stays live.
			key := testpki.NewKey(t, "rsa")
			req := withHWDevID(t, replaceCSR(t, capture.Read(t, "b-enroll-request.xml"), testpki.NewCSR(t, key, "x")), otherHWDevID)
			_, issued, err := s.enroll(t, req)
			if err != nil {
				t.Fatal(err)
			}
			b := keyedDevice{cert: issued.Certificate, key: key}
			req, _ = robo(t, s, dev)
			return req, []*x509.Certificate{b.cert}
		}, soap.NotEligibleToRenew},
		"replaced certificate": {func(t *testing.T, s *testService, dev keyedDevice) ([]byte, []*x509.Certificate) {
			enrollWithKey(t, s, "a-enroll-request.xml") // re-enrolled: dev.cert is history
			return robo(t, s, dev)
		}, soap.NotEligibleToRenew},
		"manual with a wrong password": {func(t *testing.T, s *testService, dev keyedDevice) ([]byte, []*x509.Certificate) {
			inWindow(s, dev.cert)
			req := renewalRequest(t, dev, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, true)
			return bytes.Replace(req, []byte(">demo</wsse:Password>"), []byte(">nope</wsse:Password>"), 1), nil
		}, soap.Authentication},
		"small new key": {func(t *testing.T, s *testService, dev keyedDevice) ([]byte, []*x509.Certificate) {
			inWindow(s, dev.cert)
			return renewalRequest(t, dev, testpki.NewKey(t, "rsa1024"), soap.ValueTypePKCS7, false), []*x509.Certificate{dev.cert}
		}, soap.CertificateRequest},
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestService(t, "ecdsa")
			dev := enrollWithKey(t, s, "a-enroll-request.xml")
			before, _ := s.Store.Device(context.Background(), deviceAID)
			req, peer := tc.setup(t, s, dev)
			_, _, err := s.renew(t, req, peer...)
			var f *soap.Fault
			if !errors.As(err, &f) || f.Code != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code.Type)
			}
			after, _ := s.Store.Device(context.Background(), deviceAID)
			if name != "replaced certificate" && name != "retired device" && after.Certificate != before.Certificate {
				t.Error("a refused renewal changed the record")
			}
		})
	}
}

func TestManualRenewal(t *testing.T) {
	s := newTestService(t, "ecdsa")
	dev := enrollWithKey(t, s, "a-enroll-request.xml")
	inWindow(s, dev.cert)
	_, issued, err := s.renew(t, renewalRequest(t, dev, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, true))
	if err != nil || !issued.Renewed {
		t.Fatalf("manual renewal: %v", err)
	}
}

func TestReenrollment(t *testing.T) {
	s := newTestService(t, "ecdsa")
	ctx := context.Background()
	first := enrollWithKey(t, s, "a-enroll-request.xml")
	q := &store.Queue{Commands: []*store.Command{{ID: "0001", DeviceID: deviceAID, State: store.CommandQueued}}}
	if err := s.Store.PutQueue(ctx, deviceAID, q); err != nil {
		t.Fatal(err)
	}
	second := enrollWithKey(t, s, "a-enroll-request.xml")
	hist, _ := s.Store.History(ctx, deviceAID)
	if len(hist) != 1 || hist[0].Certificate.Thumbprint != issuer.Thumbprint(first.cert) {
		t.Errorf("history %+v", hist)
	}
	if c, _ := s.Store.FinishedCommand(ctx, deviceAID, "0001"); c == nil || c.State != store.CommandCanceled || !strings.Contains(c.Reason, "re-enrolled") {
		t.Errorf("pending command after re-enrollment: %+v", c)
	}
	rec, _ := s.Store.Device(ctx, deviceAID)
	if rec.Certificate.Thumbprint != issuer.Thumbprint(second.cert) {
		t.Error("record not replaced")
	}

	// Device B's capture is the same hardware (same HWDevID) under another
	// DeviceID: A's record is retired, never two live records. (B's capture
	// is another user's: enrolled as A's user here, see TestOwnership.)
	key := testpki.NewKey(t, "rsa")
	if _, _, err := s.enroll(t, asUser(t, replaceCSR(t, capture.Read(t, "b-enroll-request.xml"), testpki.NewCSR(t, key, "x")), "Demo@MDMWindows.com")); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Store.Device(ctx, deviceAID)
	b, _ := s.Store.Device(ctx, "B5B954E81FBCB94EB79BD08BE625F4EE")
	if a.State != store.StateRetired || !strings.Contains(a.StateReason, "B5B954E81FBCB94EB79BD08BE625F4EE") || b.State != store.StateEnrolled {
		t.Errorf("A %s (%s), B %s", a.State, a.StateReason, b.State)
	}
	if id, _ := s.Store.DeviceByHardware(ctx, b.HWDevID); id != b.DeviceID {
		t.Errorf("hardware index points at %s", id)
	}
}

// TestRenewalKeepsOSVersion: a renewal's context says which build the
// device runs now; the record (and so its os: label) follows it.
func TestRenewalKeepsOSVersion(t *testing.T) {
	s := newTestService(t, "ecdsa")
	dev := enrollWithKey(t, s, "a-enroll-request.xml")
	inWindow(s, dev.cert)
	req := renewalRequest(t, dev, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, false)
	if !bytes.Contains(req, []byte("<ac:Value>10.0.19043.2364</ac:Value>")) {
		t.Fatal("the captured request no longer carries its OS version")
	}
	req = bytes.ReplaceAll(req, []byte("<ac:Value>10.0.19043.2364</ac:Value>"), []byte("<ac:Value>10.0.22631.2861</ac:Value>"))
	if _, _, err := s.renew(t, req, dev.cert); err != nil {
		t.Fatal(err)
	}
	if rec, _ := s.Store.Device(context.Background(), deviceAID); rec.OSVersion != "10.0.22631.2861" {
		t.Errorf("OS version after renewal: %q", rec.OSVersion)
	}
}

// TestRenewalPolicyDuringStorageOutage: a renewing device's GetPolicies
// (its certificate, no user credentials) while the storage is down is the
// server's failure, answered so that the device comes back
// (EnrollmentServer over store.ErrUnavailable, a 503 in caddymdm), never
// an Authentication fault that refuses a live device.
func TestRenewalPolicyDuringStorageOutage(t *testing.T) {
	s := newTestService(t, "ecdsa")
	dev := enrollWithKey(t, s, "a-enroll-request.xml")
	s.Store = store.New(brokenStorage{s.storage})
	s.Certs = nil
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	policy := string(capture.Read(t, "a-policy-request.xml"))
	i, j := strings.Index(policy, "<wsse:UsernameToken"), strings.Index(policy, "</wsse:UsernameToken>")
	env := parseEnvelope(t, []byte(policy[:i]+policy[j+len("</wsse:UsernameToken>"):]))
	_, _, err := s.GetPolicies(context.Background(), env, CredentialsFrom(env, []*x509.Certificate{dev.cert}))
	var f *soap.Fault
	if !errors.As(err, &f) || f.Code != soap.EnrollmentServer || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetPolicies with the storage down: %v, want EnrollmentServer over ErrUnavailable", err)
	}
}
