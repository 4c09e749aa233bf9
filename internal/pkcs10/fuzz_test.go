package pkcs10

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// FuzzParse feeds Parse, CheckKey and CheckSignature the CSRs of the real
// Windows enrollments, requests made here by crypto/x509 (RSA 2048, ECDSA
// P-256; the test PKI imports this package), and mutations of them. Whatever the input: no panic, exactly one of request and error,
// every error an ErrMalformed or a *SizeError, and a parsed request that
// keeps the bytes it was given, re-parses to the same request, and has its
// key judged before its signature is; a signature that verifies verifies
// again on the re-parsed request.
func FuzzParse(f *testing.F) {
	capture.SeedCSRs(f)
	for _, key := range []crypto.Signer{fuzzRSAKey(f), fuzzECDSAKey(f)} {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fuzz"}}, key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		if len(der) > capture.MaxFuzzInput {
			t.Skip()
		}
		r, err := Parse(der)
		if err != nil {
			var se *SizeError
			if r != nil {
				t.Fatalf("both a request and an error: %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.As(err, &se) {
				t.Fatalf("error %v is neither ErrMalformed nor a SizeError", err)
			}
			return
		}
		if r == nil {
			t.Fatal("no request and no error")
		}
		if !bytes.Equal(r.Raw, der) || r.PublicKey == nil || len(r.RawSubject) == 0 || len(r.RawSubjectPublicKeyInfo) == 0 ||
			!bytes.Contains(der, r.RawSubject) || !bytes.Contains(der, r.RawSubjectPublicKeyInfo) {
			t.Fatalf("parsed request does not hold what it was given: %+v", r)
		}
		if len(r.RawSubject) > MaxSubjectSize {
			t.Fatalf("subject of %d bytes accepted", len(r.RawSubject))
		}
		again, err := Parse(r.Raw)
		if err != nil || !bytes.Equal(again.RawSubject, r.RawSubject) || !bytes.Equal(again.SubjectCN, r.SubjectCN) ||
			!again.SignatureAlgorithm.Equal(r.SignatureAlgorithm) || len(again.Extensions) != len(r.Extensions) ||
			again.DeviceIDHint() != r.DeviceIDHint() {
			t.Fatalf("re-parse differs: %v", err)
		}
		_ = r.SignatureAlgorithmName()
		if r.CheckKey(MinRSABits) != nil {
			return // never verify with a key the policy refuses
		}
		if bits := r.KeyBits(); r.KeyAlgorithm() == "RSA" && (bits < MinRSABits || bits > MaxRSABits) {
			t.Fatalf("RSA key of %d bits passed CheckKey", bits)
		}
		err = r.CheckSignature()
		if err != nil && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature error %v is not ErrBadSignature", err)
		}
		if (err == nil) != (again.CheckSignature() == nil) {
			t.Fatal("the signature check differs on the re-parsed request")
		}
	})
}

func fuzzRSAKey(f *testing.F) crypto.Signer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	return k
}

func fuzzECDSAKey(f *testing.F) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	return k
}
