package emulator

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
)

// TestWindowsCSRShape: the emulator's CSR has the same shape as a real one
// (same structure, tags, OIDs; only key, names and signature differ).
func TestWindowsCSRShape(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, err := WindowsCSR(key, "BA405A5D-B1C7-4737-81C8-8F379A", "1E08C6E95D8BB843B1278FF45BC60CC6")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseCertificateRequest(der); err == nil {
		t.Error("Go's x509 accepts it: it is not shaped like a Windows CSR")
	}
	ours, err := pkcs10.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := ours.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	real, _ := pkcs10.Parse(capture.CSR(t, "a-enroll-request.xml"))
	if !ours.SignatureAlgorithm.Equal(real.SignatureAlgorithm) || string(ours.SubjectCN) != string(real.SubjectCN) ||
		ours.DeviceIDHint() != real.DeviceIDHint() || ours.KeyBits() != real.KeyBits() {
		t.Errorf("shape differs: %q %q", ours.SubjectCN, real.SubjectCN)
	}
	if !bytes.Equal(ours.RawSubject, real.RawSubject) {
		t.Error("subject encoding differs from the real CSR's")
	}
	// Same length layout as the real request (Windows CSRs are 722 bytes for RSA 2048).
	if len(der) != len(capture.CSR(t, "a-enroll-request.xml")) {
		t.Errorf("%d bytes, real CSR %d", len(der), len(capture.CSR(t, "a-enroll-request.xml")))
	}
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		t.Fatal(err)
	}
}
