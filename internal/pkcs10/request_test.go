package pkcs10

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

func TestRealWindowsCSRs(t *testing.T) {
	for _, tc := range []struct{ file, deviceID string }{
		{"a-enroll-request.xml", "1E08C6E95D8BB843B1278FF45BC60CC6"},
		{"b-enroll-request.xml", "B5B954E81FBCB94EB79BD08BE625F4EE"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			der := capture.CSR(t, tc.file)
			if _, err := x509.ParseCertificateRequest(der); err == nil {
				t.Fatal("x509.ParseCertificateRequest accepted a real Windows CSR; the premise of this package changed")
			}
			r, err := Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.CheckKey(MinRSABits); err != nil {
				t.Fatalf("real CSR key: %v", err)
			}
			if err := r.CheckSignature(); err != nil {
				t.Fatalf("real CSR signature: %v", err)
			}
			if got := r.SignatureAlgorithm.String(); got != "1.3.14.3.2.29" {
				t.Errorf("signature OID %s, want 1.3.14.3.2.29", got)
			}
			if r.KeyAlgorithm() != "RSA" || r.KeyBits() != 2048 {
				t.Errorf("key %s %d, want RSA 2048", r.KeyAlgorithm(), r.KeyBits())
			}
			cn := string(r.SubjectCN)
			if !strings.HasSuffix(cn, "!"+tc.deviceID+"\x00") {
				t.Errorf("subject CN %q does not end in !<DeviceID> NUL", cn)
			}
			if got := r.DeviceIDHint(); got != tc.deviceID {
				t.Errorf("DeviceIDHint %q, want %q", got, tc.deviceID)
			}
			if _, ok := r.PublicKey.(*rsa.PublicKey); !ok {
				t.Errorf("public key %T", r.PublicKey)
			}
		})
	}
}

func TestTamperedCSRFailsSignature(t *testing.T) {
	der := append([]byte(nil), capture.CSR(t, "a-enroll-request.xml")...)
	// Flip one bit inside the public key modulus (well inside the request info).
	der[120] ^= 0x01
	r, err := Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckSignature(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered CSR: got %v, want ErrBadSignature", err)
	}
}

func TestMalformed(t *testing.T) {
	der := capture.CSR(t, "a-enroll-request.xml")
	for name, in := range map[string][]byte{
		"empty":     nil,
		"truncated": der[:len(der)/2],
		"trailing":  append(append([]byte(nil), der...), 0, 0),
		"garbage":   []byte("not a certificate request"),
	} {
		if _, err := Parse(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}
