package enroll

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// enrollB enrolls the capture's device B on other hardware (so that A stays
// live) and returns it with its key.
func enrollB(t *testing.T, s *testService) keyedDevice {
	t.Helper()
	key := testpki.NewKey(t, "rsa")
	req := withHWDevID(t, replaceCSR(t, capture.Read(t, "b-enroll-request.xml"), testpki.NewCSR(t, key, "x")), otherHWDevID)
	_, issued, err := s.enroll(t, req)
	if err != nil {
		t.Fatal(err)
	}
	return keyedDevice{cert: issued.Certificate, key: key}
}

func wantFault(t *testing.T, err error, code soap.FaultCode, what string) {
	t.Helper()
	var f *soap.Fault
	if !errors.As(err, &f) || f.Code != code {
		t.Fatalf("%s: got %v, want %s", what, err, code.Type)
	}
}

// A ROBO renewal whose TLS certificate is device A's own (live, in its
// window) but whose PKCS#7 is signed by device B's certificate (also live
// and in its window) is refused: the signer must be the connection's
// certificate. Nothing else refuses it: the same request over B's own
// connection is accepted afterwards.
func TestROBORenewalSignerMustBeTLSCertificate(t *testing.T) {
	s := newTestService(t, "ecdsa")
	a := enrollWithKey(t, s, "a-enroll-request.xml")
	b := enrollB(t, s)
	ctx := context.Background()
	for id, c := range map[string]*x509.Certificate{deviceAID: a.cert, deviceBID: b.cert} {
		d, err := s.Store.Device(ctx, id)
		if err != nil || d.State != store.StateEnrolled || d.Certificate.Thumbprint != issuer.Thumbprint(c) {
			t.Fatalf("device %s is not live with its certificate: %v %+v", id, err, d)
		}
	}
	if a.cert.NotAfter.Sub(b.cert.NotAfter).Abs() > time.Hour {
		t.Fatal("A's and B's certificates do not share a renewal window")
	}
	inWindow(s, a.cert)
	beforeA, _ := s.Store.Device(ctx, deviceAID)
	beforeB, _ := s.Store.Device(ctx, deviceBID)

	req := renewalRequest(t, b, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, false)
	_, issued, err := s.renew(t, req, a.cert)
	wantFault(t, err, soap.NotEligibleToRenew, "PKCS#7 signed by B over A's connection")
	if issued != nil {
		t.Fatal("a refused renewal issued a certificate")
	}
	afterA, _ := s.Store.Device(ctx, deviceAID)
	afterB, _ := s.Store.Device(ctx, deviceBID)
	if afterA.Certificate != beforeA.Certificate || afterB.Certificate != beforeB.Certificate {
		t.Fatal("a refused renewal changed a record")
	}

	// Control: the very same request over B's connection renews B, and A's
	// own request over A's connection renews A.
	if _, issued, err := s.renew(t, req, b.cert); err != nil || !issued.Renewed || issued.Device.DeviceID != deviceBID {
		t.Fatalf("control (B over B's connection): %v", err)
	}
	if _, issued, err := s.renew(t, renewalRequest(t, a, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, false), a.cert); err != nil || issued.Device.DeviceID != deviceAID {
		t.Fatalf("control (A over A's connection): %v", err)
	}
}

// The renewal window is RenewalPeriod before NotAfter. The cases are chosen
// so that counting from NotBefore (either direction) gives the other answer.
func TestRenewalWindowCountsFromNotAfter(t *testing.T) {
	const hour = time.Hour
	for _, tc := range []struct {
		name     string
		validity time.Duration
		// at returns the service clock from the certificate.
		at func(c *x509.Certificate, period time.Duration) time.Time
		ok bool
	}{
		{"just outside by NotAfter (long validity)", 365 * 24 * hour,
			func(c *x509.Certificate, p time.Duration) time.Time { return c.NotAfter.Add(-p - hour) }, false},
		{"just inside by NotAfter (long validity)", 365 * 24 * hour,
			func(c *x509.Certificate, p time.Duration) time.Time { return c.NotAfter.Add(-p + hour) }, true},
		// Validity 60 days, period 42: by NotAfter the window opens 18 days
		// after issuance; NotBefore+period would be 42 days.
		{"inside by NotAfter, before NotBefore+period (short validity)", 60 * 24 * hour,
			func(c *x509.Certificate, p time.Duration) time.Time { return c.NotAfter.Add(-p + hour) }, true},
		{"just outside by NotAfter (short validity)", 60 * 24 * hour,
			func(c *x509.Certificate, p time.Duration) time.Time { return c.NotAfter.Add(-p - hour) }, false},
		{"day after issuance (short validity)", 60 * 24 * hour,
			func(c *x509.Certificate, p time.Duration) time.Time { return c.NotBefore.Add(24 * hour) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestService(t, "ecdsa")
			s.Issuer.Validity = tc.validity
			dev := enrollWithKey(t, s, "a-enroll-request.xml")
			if got := dev.cert.NotAfter.Sub(dev.cert.NotBefore); got < tc.validity || got > tc.validity+issuer.Backdate+time.Minute {
				t.Fatalf("certificate validity %s, want %s", got, tc.validity)
			}
			period := s.RenewalPeriod
			if period != DefaultRenewalPeriod {
				t.Fatalf("RenewalPeriod %s", period)
			}
			now := tc.at(dev.cert, period)
			s.Now = func() time.Time { return now }
			_, issued, err := s.renew(t, renewalRequest(t, dev, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, false), dev.cert)
			if tc.ok {
				if err != nil || issued == nil || !issued.Renewed {
					t.Fatalf("renewal at %s (NotAfter %s, period %s) refused: %v", now, dev.cert.NotAfter, period, err)
				}
				return
			}
			wantFault(t, err, soap.NotEligibleToRenew, "renewal outside the window")
		})
	}
}

// SubjectCommonName keeps ordinary device IDs and replaces IDs that
// PrintableString cannot hold, or longer than ub-common-name (64), by the
// first 16 bytes of their SHA-256 in upper-case hex. Expected values were
// computed outside Go:
//
//	printf '%s' "$id" | sha256sum | cut -c1-32 | tr a-f A-F
func TestSubjectCommonNameFallback(t *testing.T) {
	a64 := strings.Repeat("A", 64)
	for id, want := range map[string]string{
		"1E08C6E95D8BB843B1278FF45BC60CC6":       "1E08C6E95D8BB843B1278FF45BC60CC6",
		"B5B954E81FBCB94EB79BD08BE625F4EE":       "B5B954E81FBCB94EB79BD08BE625F4EE",
		"host-1.example":                         "host-1.example",
		a64:                                      a64,
		a64 + "A":                                "836203944F4C0280461AD73D31457C22",
		"{1E08C6E9-5D8B-B843-B127-8FF45BC60CC6}": "1C4E5C41DCDDBA2432B362BBC81BC88E",
		"dev_1":                                  "9F32E2436DD0DB4A5737CA5611FA747D",
		"a@b":                                    "7508D8B5018EA640B85269861A101203",
	} {
		got := SubjectCommonName(id)
		if got != want {
			t.Errorf("SubjectCommonName(%q) = %q, want %q", id, got, want)
		}
		if _, err := issuer.NewSubject(got); err != nil {
			t.Errorf("SubjectCommonName(%q) = %q is no valid subject: %v", id, got, err)
		}
	}
}

// Enrolling a device whose ID holds '{', '}' and '_' (valid device IDs, not
// PrintableString) or is longer than 64 characters gives a certificate whose
// CN is the hashed fallback, and the record's subject says so.
func TestEnrollmentSubjectFallback(t *testing.T) {
	long := strings.Repeat("0123456789", 7) // 70 characters
	for id, want := range map[string]string{
		"{1E08C6E9-5D8B-B843-B127-8FF45BC60CC6}": "1C4E5C41DCDDBA2432B362BBC81BC88E",
		"dev_1":                                  "9F32E2436DD0DB4A5737CA5611FA747D",
		// printf '%s' 0123456789 x7 (70 characters) | sha256sum | cut -c1-32 | tr a-f A-F
		long: "57445FA40B08C60CDCBA7CA39C756DE6",
	} {
		t.Run(id, func(t *testing.T) {
			s := newTestService(t, "ecdsa")
			req := capture.Read(t, "a-enroll-request.xml")
			req = []byte(strings.Replace(string(req), deviceAID, id, -1))
			req = replaceCSR(t, req, testpki.NewCSR(t, testpki.NewKey(t, "rsa"), "x"))
			_, issued, err := s.enroll(t, req)
			if err != nil {
				t.Fatal(err)
			}
			if issued.Device.DeviceID != id {
				t.Fatalf("device ID %q, want %q", issued.Device.DeviceID, id)
			}
			if cn := issued.Certificate.Subject.CommonName; cn != want {
				t.Errorf("certificate CN %q, want %q", cn, want)
			}
			checkPrintableSubject(t, issued.Certificate.RawSubject)
			if issued.Device.Certificate.Subject != "CN="+want {
				t.Errorf("record subject %q", issued.Device.Certificate.Subject)
			}
			// The name is not the device ID, so the certificate is indexed
			// and finds its device (renewal, hub) through the index.
			ctx := context.Background()
			if got, err := s.Store.DeviceByCertificate(ctx, issuer.Thumbprint(issued.Certificate)); err != nil || got != id {
				t.Errorf("index entry: %q %v", got, err)
			}
			if dev, _, err := s.Certs.LiveDevice(ctx, []*x509.Certificate{issued.Certificate}); err != nil || dev.DeviceID != id {
				t.Errorf("LiveDevice: %v %v", dev, err)
			}
		})
	}
}
