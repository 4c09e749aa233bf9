package pkcs10

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
)

// Request is a parsed PKCS#10 certification request.
type Request struct {
	// Raw is the whole DER request.
	Raw []byte
	// RawSubject is the DER of the subject Name, as the device sent it.
	RawSubject []byte
	// SubjectCN is the first common name's value bytes, untouched (a real
	// Windows CN ends in a NUL byte). Never put it into a certificate.
	SubjectCN []byte
	// RawSubjectPublicKeyInfo is the DER SubjectPublicKeyInfo; an issued
	// certificate must carry exactly this key (pitfall P4).
	RawSubjectPublicKeyInfo []byte
	PublicKey               crypto.PublicKey
	SignatureAlgorithm      asn1.ObjectIdentifier
	// Extensions are those of the PKCS#9 extensionRequest attribute.
	Extensions []pkix.Extension

	rawInfo   []byte
	signature []byte
}

type certificationRequest struct {
	Info               certificationRequestInfo
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          asn1.BitString
}

type certificationRequestInfo struct {
	Raw        asn1.RawContent
	Version    int
	Subject    asn1.RawValue
	PublicKey  asn1.RawValue
	Attributes []asn1.RawValue `asn1:"tag:0"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

type typeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

var (
	oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
	// OIDDeviceID is the Microsoft extension a Windows CSR uses to repeat the
	// device ID (ASCII, NUL-terminated, in an OCTET STRING).
	OIDDeviceID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 66, 1, 0}
)

// ErrMalformed wraps every parse error.
var ErrMalformed = errors.New("malformed PKCS#10 request")

// Parse reads a DER PKCS#10 request without judging the string types of its
// subject. It checks neither key nor signature: call CheckKey, then
// CheckSignature.
//
// A request over MaxRequestSize, or whose subject is over MaxSubjectSize,
// is refused with a *SizeError.
func Parse(der []byte) (*Request, error) {
	if len(der) > MaxRequestSize {
		return nil, &SizeError{What: "certificate request", Size: len(der), Max: MaxRequestSize}
	}
	var cr certificationRequest
	rest, err := asn1.Unmarshal(der, &cr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	if cr.Info.Version != 0 {
		return nil, fmt.Errorf("%w: version %d, want 0 (v1)", ErrMalformed, cr.Info.Version)
	}
	if n := len(cr.Info.Subject.FullBytes); n > MaxSubjectSize {
		return nil, &SizeError{What: "certificate request subject", Size: n, Max: MaxSubjectSize}
	}
	pub, err := x509.ParsePKIXPublicKey(cr.Info.PublicKey.FullBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrMalformed, err)
	}
	r := &Request{
		Raw:                     der,
		RawSubject:              cr.Info.Subject.FullBytes,
		RawSubjectPublicKeyInfo: cr.Info.PublicKey.FullBytes,
		PublicKey:               pub,
		SignatureAlgorithm:      cr.SignatureAlgorithm.Algorithm,
		rawInfo:                 cr.Info.Raw,
		signature:               cr.Signature.RightAlign(),
	}
	if r.SubjectCN, err = firstCommonName(cr.Info.Subject.FullBytes); err != nil {
		return nil, fmt.Errorf("%w: subject: %v", ErrMalformed, err)
	}
	if r.Extensions, err = extensionRequest(cr.Info.Attributes); err != nil {
		return nil, fmt.Errorf("%w: attributes: %v", ErrMalformed, err)
	}
	return r, nil
}

// firstCommonName walks a Name (SEQUENCE OF SET OF AttributeTypeAndValue)
// keeping values as raw bytes, so that illegal characters do not fail it.
func firstCommonName(rawName []byte) ([]byte, error) {
	var rdns []asn1.RawValue
	if rest, err := asn1.Unmarshal(rawName, &rdns); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("not a Name: %v", err)
	}
	for _, rdn := range rdns {
		var atvs []typeAndValue
		if _, err := asn1.UnmarshalWithParams(rdn.FullBytes, &atvs, "set"); err != nil {
			return nil, fmt.Errorf("not a RelativeDistinguishedName: %v", err)
		}
		for _, atv := range atvs {
			if atv.Type.Equal(oidCommonName) {
				return atv.Value.Bytes, nil
			}
		}
	}
	return nil, nil
}

func extensionRequest(attrs []asn1.RawValue) ([]pkix.Extension, error) {
	for _, raw := range attrs {
		var a attribute
		if _, err := asn1.Unmarshal(raw.FullBytes, &a); err != nil {
			return nil, err
		}
		if !a.Type.Equal(oidExtensionRequest) || len(a.Values) == 0 {
			continue
		}
		var exts []pkix.Extension
		if _, err := asn1.Unmarshal(a.Values[0].FullBytes, &exts); err != nil {
			return nil, fmt.Errorf("extensionRequest: %v", err)
		}
		return exts, nil
	}
	return nil, nil
}

// DeviceIDHint returns the device ID a Windows CSR repeats in its
// 1.3.6.1.4.1.311.66.1.0 extension, without the trailing NUL, or "".
// Like everything the device sends, it is a hint, not a proof.
func (r *Request) DeviceIDHint() string {
	for _, e := range r.Extensions {
		if !e.Id.Equal(OIDDeviceID) {
			continue
		}
		v := e.Value
		var inner []byte
		if _, err := asn1.Unmarshal(v, &inner); err == nil {
			v = inner
		}
		return strings.TrimRight(string(v), "\x00")
	}
	return ""
}

// KeyBits returns the size of the request's key: the modulus length for RSA,
// the curve size for ECDSA, 256 for Ed25519.
func (r *Request) KeyBits() int {
	switch k := r.PublicKey.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen()
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return 256
	}
	return 0
}

// KeyAlgorithm names the key type for logs and errors.
func (r *Request) KeyAlgorithm() string {
	switch r.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return "unknown"
}
