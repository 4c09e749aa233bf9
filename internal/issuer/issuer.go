package issuer

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
)

// CA is the device CA: the certificate and key that sign, and the root that
// devices are told to trust.
type CA struct {
	// Signer is the certificate that signs device certificates: the root,
	// or a long-lived intermediate.
	Signer *x509.Certificate
	Key    crypto.Signer
	// Root is the self-signed root Signer chains to (Signer itself when the
	// root signs).
	Root *x509.Certificate
	// Intermediates are the certificates between Signer and Root, Signer
	// first; empty when the root signs.
	Intermediates []*x509.Certificate
}

// Validate checks that the key belongs to the signing certificate and that
// the certificate may sign certificates.
func (ca *CA) Validate() error {
	if ca.Signer == nil || ca.Key == nil || ca.Root == nil {
		return errors.New("device CA needs a signing certificate, its key and a root")
	}
	pub, err := x509.MarshalPKIXPublicKey(ca.Key.Public())
	if err != nil {
		return err
	}
	if !bytes.Equal(pub, ca.Signer.RawSubjectPublicKeyInfo) {
		return errors.New("device CA key does not match its certificate")
	}
	if !ca.Signer.IsCA || ca.Signer.KeyUsage&x509.KeyUsageCertSign == 0 && ca.Signer.KeyUsage != 0 {
		return fmt.Errorf("device CA certificate %q is not a CA certificate", ca.Signer.Subject)
	}
	return nil
}

// Issuer signs device certificates with a CA.
type Issuer struct {
	CA *CA
	// Validity is how long an issued certificate is valid.
	Validity time.Duration
	// Rand is the source of serial numbers and signatures (crypto/rand if nil).
	Rand io.Reader
}

// Backdate is how far before "now" a certificate becomes valid, so a device
// whose clock is a few minutes behind does not reject it.
const Backdate = 5 * time.Minute

// Issue signs a client-authentication certificate for the key of req, with
// the server-chosen subject, valid from now-Backdate for the Validity.
func (is *Issuer) Issue(req *pkcs10.Request, subject Subject, now time.Time) (*x509.Certificate, error) {
	r := is.Rand
	if r == nil {
		r = rand.Reader
	}
	serial, err := randomSerial(r)
	if err != nil {
		return nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, isRSA := req.PublicKey.(*rsa.PublicKey); isRSA {
		usage |= x509.KeyUsageKeyEncipherment
	}
	notAfter := now.Add(is.Validity)
	if notAfter.After(is.CA.Signer.NotAfter) {
		// A device certificate cannot outlive the CA that vouches for it.
		notAfter = is.CA.Signer.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            subject.DER,
		NotBefore:             now.Add(-Backdate),
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(r, tmpl, is.CA.Signer, req.PublicKey, is.CA.Key)
	if err != nil {
		return nil, fmt.Errorf("signing device certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(cert.RawSubjectPublicKeyInfo, req.RawSubjectPublicKeyInfo) {
		// x509 re-encodes the key; a difference would strand the device (P4).
		return nil, errors.New("issued certificate key differs from the request's key encoding")
	}
	return cert, nil
}

// randomSerial returns a positive 127-bit random serial number.
func randomSerial(r io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("generating serial number: %w", err)
		}
		b[0] &= 0x7f
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

// Thumbprint is the upper-case hex SHA-1 of a certificate's DER, the name
// Windows gives a certificate in its stores.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// SerialHex is the certificate serial as upper-case hex.
func SerialHex(cert *x509.Certificate) string {
	return strings.ToUpper(cert.SerialNumber.Text(16))
}
