package pkcs10

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
)

// Bounds of what a request may be. A Windows CSR is about 720 bytes with a
// subject of about 80; anything far larger is not a device's.
const (
	// MaxRequestSize bounds the whole DER request.
	MaxRequestSize = 8 << 10
	// MaxSubjectSize bounds the DER subject Name.
	MaxSubjectSize = 1 << 10
	// MinRSABits and MaxRSABits bound the RSA modulus accepted.
	MinRSABits = 2048
	MaxRSABits = 4096
)

// SizeError is a request, or a part of it, over its bound.
type SizeError struct {
	What      string
	Size, Max int
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("%s of %d bytes: the maximum is %d", e.What, e.Size, e.Max)
}

// CheckKey applies the key policy: RSA of minRSABits (at least MinRSABits)
// to MaxRSABits bits, or ECDSA on P-256 or P-384. It needs no signature
// check first, and must come before one: verifying with an oversized key
// is the work a hostile request wants done.
func (r *Request) CheckKey(minRSABits int) error {
	minRSABits = max(minRSABits, MinRSABits)
	switch k := r.PublicKey.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < minRSABits {
			return fmt.Errorf("RSA key of %d bits: the minimum is %d", bits, minRSABits)
		}
		if bits > MaxRSABits {
			return fmt.Errorf("RSA key of %d bits: the maximum is %d", bits, MaxRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384():
			return nil
		}
		return fmt.Errorf("ECDSA key on curve %s: only P-256 and P-384 are accepted", k.Curve.Params().Name)
	}
	return fmt.Errorf("%s key: only RSA (%d to %d bits) and ECDSA (P-256, P-384) are accepted", r.KeyAlgorithm(), minRSABits, MaxRSABits)
}
