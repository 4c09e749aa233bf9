package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/emulator"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"golang.org/x/crypto/bcrypt"
)

// quickstartHash is the quickstart's bcrypt hash (cost 10) of
// demo-password.
const quickstartHash = "$2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n."

// measureBcrypt times one check of the quickstart's password, in ms: what
// an enrollment's one password check costs.
func measureBcrypt() float64 {
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			check(bcrypt.CompareHashAndPassword([]byte(quickstartHash), []byte("demo-password")))
		}
	})
	return float64(r.NsPerOp()) / 1e6
}

type cryptoBound struct{ issueMS float64 }

// measureCrypto times what an enrollment cannot avoid: checking a Windows
// CSR's signature and signing the certificate, with the run's kind of CA
// (caKey "ecdsa": P-256; otherwise the default RSA 3072).
func measureCrypto(caKey string) cryptoBound {
	devKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, err := emulator.WindowsCSR(devKey, "BA405A5D-B1C7-4737-81C8-8F379A", "1E08C6E95D8BB843B1278FF45BC60CC6")
	check(err)
	var key crypto.Signer
	if caKey == "ecdsa" {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	}
	check(err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"}, NotBefore: time.Now(), NotAfter: time.Now().AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	caCert, _ := x509.ParseCertificate(caDER)
	is := &issuer.Issuer{CA: &issuer.CA{Signer: caCert, Key: key, Root: caCert}, Validity: 365 * 24 * time.Hour}
	subj, _ := issuer.NewSubject("1E08C6E95D8BB843B1278FF45BC60CC6")
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			csr, err := pkcs10.Parse(der)
			check(err)
			check(csr.CheckSignature())
			_, err = is.Issue(csr, subj, time.Now())
			check(err)
		}
	})
	return cryptoBound{issueMS: float64(r.NsPerOp()) / 1e6}
}
