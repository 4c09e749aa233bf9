package pkcs10

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// rawCSR assembles a request around any subject and key. Its signature is
// garbage: these tests are about what is refused before it is checked.
func rawCSR(t *testing.T, subject, spki []byte) []byte {
	t.Helper()
	info, err := asn1.Marshal(struct {
		Version    int
		Subject    asn1.RawValue
		PublicKey  asn1.RawValue
		Attributes []asn1.RawValue `asn1:"tag:0"`
	}{0, asn1.RawValue{FullBytes: subject}, asn1.RawValue{FullBytes: spki}, []asn1.RawValue{}})
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct {
		Info      asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: info}, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue},
		asn1.BitString{Bytes: make([]byte, 256), BitLength: 2048}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func subjectCN(t *testing.T, cn string) []byte {
	t.Helper()
	b, err := asn1.Marshal(pkix.Name{CommonName: cn}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeRSA is the SubjectPublicKeyInfo of an RSA modulus of exactly bits
// bits, with no private key: sizes are judged without one, and a real
// 16384-bit key takes minutes to generate.
func fakeRSA(t *testing.T, bits int) []byte {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1).SetBit(n, 0, 1)
	spki, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	return spki
}

func ecSPKI(t *testing.T, c elliptic.Curve) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return spki
}

func TestCheckKey(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edSPKI, _ := x509.MarshalPKIXPublicKey(edPub)
	for _, tc := range []struct {
		name   string
		spki   []byte
		minRSA int
		want   string // "" when accepted
	}{
		{"RSA 2048", fakeRSA(t, 2048), 2048, ""},
		{"RSA 4096", fakeRSA(t, 4096), 2048, ""},
		{"RSA 3072 with min 3072", fakeRSA(t, 3072), 3072, ""},
		{"RSA 512", fakeRSA(t, 512), 2048, "RSA key of 512 bits: the minimum is 2048"},
		{"RSA 1024 with a lower configured min", fakeRSA(t, 1024), 1024, "RSA key of 1024 bits: the minimum is 2048"},
		{"RSA 2048 with min 3072", fakeRSA(t, 2048), 3072, "RSA key of 2048 bits: the minimum is 3072"},
		{"RSA 4097", fakeRSA(t, 4097), 2048, "RSA key of 4097 bits: the maximum is 4096"},
		{"RSA 16384", fakeRSA(t, 16384), 2048, "RSA key of 16384 bits: the maximum is 4096"},
		{"ECDSA P-256", ecSPKI(t, elliptic.P256()), 2048, ""},
		{"ECDSA P-384", ecSPKI(t, elliptic.P384()), 2048, ""},
		{"ECDSA P-521", ecSPKI(t, elliptic.P521()), 2048, "ECDSA key on curve P-521: only P-256 and P-384 are accepted"},
		{"ECDSA P-224", ecSPKI(t, elliptic.P224()), 2048, "ECDSA key on curve P-224"},
		{"Ed25519", edSPKI, 2048, "Ed25519 key: only RSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(rawCSR(t, subjectCN(t, "x"), tc.spki))
			if err != nil {
				t.Fatal(err)
			}
			err = r.CheckKey(tc.minRSA)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSizeBounds(t *testing.T) {
	spki := fakeRSA(t, 2048)
	var se *SizeError
	// Windows sends about 80 bytes of subject; the bound leaves room.
	ok := rawCSR(t, subjectCN(t, strings.Repeat("a", 900)), spki)
	if _, err := Parse(ok); err != nil {
		t.Fatalf("subject under the bound: %v", err)
	}
	long := rawCSR(t, subjectCN(t, strings.Repeat("a", 2000)), spki)
	if _, err := Parse(long); !errors.As(err, &se) || se.Max != MaxSubjectSize || !strings.Contains(err.Error(), "certificate request subject of 20") {
		t.Errorf("2000-byte CN: got %v, want a subject SizeError", err)
	}
	huge := rawCSR(t, subjectCN(t, strings.Repeat("a", 700<<10)), spki)
	if _, err := Parse(huge); !errors.As(err, &se) || se.Max != MaxRequestSize || se.Size != len(huge) {
		t.Errorf("700 KiB CN: got %v, want a request SizeError", err)
	}
	if _, err := Parse(capture.CSR(t, "a-enroll-request.xml")); err != nil {
		t.Errorf("real CSR: %v", err)
	}
}
