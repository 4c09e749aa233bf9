package omadm

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// issueAt issues a certificate for id by the harness's device CA at the
// given time and records it as the device's current certificate, so that
// only its validity period can make it unacceptable.
func (h *harness) issueAt(id string, at time.Time, validity time.Duration) *x509.Certificate {
	h.t.Helper()
	csr, err := pkcs10.Parse(testpki.NewCSR(h.t, testpki.NewKey(h.t, "ecdsa"), "x"))
	if err != nil {
		h.t.Fatal(err)
	}
	subj, _ := issuer.NewSubject(id)
	cert, err := (&issuer.Issuer{CA: h.ca, Validity: validity}).Issue(csr, subj, at)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx := context.Background()
	d, err := h.srv.Store.Device(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	d.Certificate = store.Certificate{Serial: issuer.SerialHex(cert), Thumbprint: issuer.Thumbprint(cert)}
	if err := h.srv.Store.PutDevice(ctx, d); err != nil {
		h.t.Fatal(err)
	}
	h.certs[id] = cert
	return cert
}

// TestExpiredDeviceCertificate presents the device's own certificate, issued
// by the device CA and bound to the device, outside its validity period:
// refused with 403 in certificate and either mode. The same certificate
// inside its period is accepted (so only the validity check refuses it).
func TestExpiredDeviceCertificate(t *testing.T) {
	for _, mode := range []AuthMode{AuthCertificate, AuthEither} {
		h := newHarness(t, mode, nil)
		h.enroll(deviceA)

		// Expired an hour ago.
		expired := h.issueAt(deviceA, time.Now().Add(-25*time.Hour), 24*time.Hour)
		if !expired.NotAfter.Before(time.Now()) {
			t.Fatal("certificate is not expired")
		}
		r, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
		if hs := headerStatus(t, m); hs.Data != "403" || r.Report.Auth != "" {
			t.Errorf("mode %v: expired certificate: %s auth=%q refused=%q", mode, hs.Data, r.Report.Auth, r.Report.Refused)
		}

		// A valid certificate, then the server clock moved past its NotAfter.
		valid := h.issueAt(deviceA, time.Now(), 24*time.Hour)
		r, m = h.send(deviceA, msg(deviceA, "2", 1, "", session1Alert, true))
		if hs := headerStatus(t, m); hs.Data == "403" || r.Report.Auth != "certificate" {
			t.Fatalf("mode %v: valid certificate: %s auth=%q refused=%q", mode, hs.Data, r.Report.Auth, r.Report.Refused)
		}
		h.srv.Now = func() time.Time { return valid.NotAfter.Add(time.Minute) }
		r, m = h.send(deviceA, msg(deviceA, "3", 1, "", session1Alert, true))
		if hs := headerStatus(t, m); hs.Data != "403" || r.Report.Auth != "" {
			t.Errorf("mode %v: certificate expired by the server clock: %s auth=%q", mode, hs.Data, r.Report.Auth)
		}
		// Not yet valid.
		h.srv.Now = func() time.Time { return valid.NotBefore.Add(-time.Hour) }
		r, m = h.send(deviceA, msg(deviceA, "4", 1, "", session1Alert, true))
		if hs := headerStatus(t, m); hs.Data != "403" || r.Report.Auth != "" {
			t.Errorf("mode %v: certificate not yet valid: %s auth=%q", mode, hs.Data, r.Report.Auth)
		}
	}
}
