package pkcs7

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// FuzzParse feeds Parse, Signer and CheckSignature renewal requests built by
// Sign (RSA and ECDSA signers, SHA-1 and SHA-256, wrapping a real Windows
// CSR as a renewal does), and mutations of them. Whatever the input: no
// panic, exactly one of SignedData and error, every parse error an
// ErrMalformed; a parsed SignedData holds content taken from its input and
// re-parses the same; a signature check, with the signer it names or with
// the seeds' certificates, ends in success or ErrBadSignature, the same for
// the re-parsed SignedData.
func FuzzParse(f *testing.F) {
	csr := capture.CSR(f, "a-enroll-request.xml")
	var certs []*x509.Certificate
	for _, kind := range []string{"rsa", "ecdsa"} {
		key := testpki.NewKey(f, kind)
		cert := fuzzCertificate(f, key)
		certs = append(certs, cert)
		for _, hash := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			der, err := Sign(csr, cert, key, hash)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(der)
		}
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		if len(der) > capture.MaxFuzzInput {
			t.Skip()
		}
		sd, err := Parse(der)
		if err != nil {
			if sd != nil {
				t.Fatalf("both a SignedData and an error: %v", err)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if sd == nil {
			t.Fatal("no SignedData and no error")
		}
		if len(sd.Content) == 0 || !bytes.Contains(der, sd.Content) {
			t.Fatalf("content of %d bytes is not from the input", len(sd.Content))
		}
		again, err := Parse(der)
		if err != nil || !bytes.Equal(again.Content, sd.Content) || len(again.Certificates) != len(sd.Certificates) {
			t.Fatalf("re-parse differs: %v", err)
		}
		check := func(c *x509.Certificate) {
			err := sd.CheckSignature(c)
			if err != nil && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("signature error %v is not ErrBadSignature", err)
			}
			if (err == nil) != (again.CheckSignature(c) == nil) {
				t.Fatal("the signature check differs on the re-parsed SignedData")
			}
		}
		signer, err := sd.Signer()
		if err == nil {
			if signer == nil {
				t.Fatal("no signer and no error")
			}
			check(signer)
		}
		for _, c := range certs {
			check(c)
		}
	})
}

// fuzzCertificate is a self-signed certificate of key, as a device's.
func fuzzCertificate(f *testing.F, key crypto.Signer) *x509.Certificate {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "fuzz device"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		f.Fatal(err)
	}
	return c
}
