package pkcs7

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

func selfSigned(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "dev"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestSignParseVerify(t *testing.T) {
	for _, kind := range []string{"rsa", "ecdsa"} {
		for _, hash := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			key := testpki.NewKey(t, kind)
			cert := selfSigned(t, key)
			csr := testpki.NewCSR(t, testpki.NewKey(t, "rsa"), "new")
			der, err := Sign(csr, cert, key, hash)
			if err != nil {
				t.Fatal(err)
			}
			sd, err := Parse(der)
			if err != nil {
				t.Fatalf("%s/%v: %v", kind, hash, err)
			}
			if string(sd.Content) != string(csr) {
				t.Error("content lost")
			}
			signer, err := sd.Signer()
			if err != nil || !signer.Equal(cert) {
				t.Fatalf("signer %v", err)
			}
			if err := sd.CheckSignature(signer); err != nil {
				t.Errorf("%s/%v: %v", kind, hash, err)
			}
			other := selfSigned(t, testpki.NewKey(t, kind))
			if err := sd.CheckSignature(other); !errors.Is(err, ErrBadSignature) {
				t.Errorf("another key verified: %v", err)
			}
		}
	}
}

func TestTamperedContent(t *testing.T) {
	key := testpki.NewKey(t, "ecdsa")
	cert := selfSigned(t, key)
	der, _ := Sign([]byte("hello renewal request"), cert, key, crypto.SHA256)
	i := len(der) - 1
	for ; i > 0; i-- {
		if string(der[i-4:i+1]) == "hello" {
			break
		}
	}
	der[i] ^= 0x20
	sd, err := Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.CheckSignature(cert); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered content verified: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("x"), der[:len(der)/2]} {
		if _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%d bytes) = %v", len(bad), err)
		}
	}
}
