package pkcs10

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	_ "crypto/sha1" // SHA-1 signatures of real Windows CSRs
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/asn1"
	"errors"
	"fmt"
)

// signatureAlgorithm is what a signature OID means: the key type it needs
// and the hash it signs.
type signatureAlgorithm struct {
	name string
	key  string // "RSA", "ECDSA" or "Ed25519"
	hash crypto.Hash
}

// signatureAlgorithms lists the OIDs accepted on requests. MD5 and MD2 are
// absent on purpose: a request signed with them is refused.
var signatureAlgorithms = map[string]signatureAlgorithm{
	"1.3.14.3.2.29":         {"SHA1-RSA (OIW)", "RSA", crypto.SHA1},
	"1.2.840.113549.1.1.5":  {"SHA1-RSA", "RSA", crypto.SHA1},
	"1.2.840.113549.1.1.11": {"SHA256-RSA", "RSA", crypto.SHA256},
	"1.2.840.113549.1.1.12": {"SHA384-RSA", "RSA", crypto.SHA384},
	"1.2.840.113549.1.1.13": {"SHA512-RSA", "RSA", crypto.SHA512},
	"1.2.840.10045.4.1":     {"ECDSA-SHA1", "ECDSA", crypto.SHA1},
	"1.2.840.10045.4.3.2":   {"ECDSA-SHA256", "ECDSA", crypto.SHA256},
	"1.2.840.10045.4.3.3":   {"ECDSA-SHA384", "ECDSA", crypto.SHA384},
	"1.2.840.10045.4.3.4":   {"ECDSA-SHA512", "ECDSA", crypto.SHA512},
	"1.3.101.112":           {"Ed25519", "Ed25519", 0},
}

// ErrBadSignature is returned when a request's signature does not verify
// with its own key, or uses an algorithm that is not accepted.
var ErrBadSignature = errors.New("PKCS#10 signature check failed")

// SignatureAlgorithmName names the request's signature algorithm, or gives
// its OID when unknown.
func (r *Request) SignatureAlgorithmName() string {
	if a, ok := signatureAlgorithms[r.SignatureAlgorithm.String()]; ok {
		return a.name
	}
	return r.SignatureAlgorithm.String()
}

// CheckSignature verifies that the request was signed by the private key of
// the public key it carries (proof of possession).
func (r *Request) CheckSignature() error {
	return checkSignature(r.SignatureAlgorithm, r.PublicKey, r.rawInfo, r.signature)
}

func checkSignature(oid asn1.ObjectIdentifier, pub crypto.PublicKey, signed, sig []byte) error {
	alg, ok := signatureAlgorithms[oid.String()]
	if !ok {
		return fmt.Errorf("%w: signature algorithm %s is not accepted", ErrBadSignature, oid)
	}
	var digest []byte
	if alg.hash != 0 {
		h := alg.hash.New()
		h.Write(signed)
		digest = h.Sum(nil)
	}
	var err error
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg.key != "RSA" {
			return fmt.Errorf("%w: %s signature with an RSA key", ErrBadSignature, alg.name)
		}
		err = rsa.VerifyPKCS1v15(k, alg.hash, digest, sig)
	case *ecdsa.PublicKey:
		if alg.key != "ECDSA" {
			return fmt.Errorf("%w: %s signature with an ECDSA key", ErrBadSignature, alg.name)
		}
		if !ecdsa.VerifyASN1(k, digest, sig) {
			err = errors.New("ECDSA verification failed")
		}
	case ed25519.PublicKey:
		if alg.key != "Ed25519" {
			return fmt.Errorf("%w: %s signature with an Ed25519 key", ErrBadSignature, alg.name)
		}
		if !ed25519.Verify(k, signed, sig) {
			err = errors.New("Ed25519 verification failed")
		}
	default:
		return fmt.Errorf("%w: unsupported key type %T", ErrBadSignature, pub)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return nil
}
