package pkcs7

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	_ "crypto/sha1" // Windows signs renewal requests with SHA-1 or SHA-256
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// OIDs of CMS.
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
)

var digestAlgorithms = map[string]crypto.Hash{
	"1.3.14.3.2.26":          crypto.SHA1,
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

var digestOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA1:   {1, 3, 14, 3, 2, 26},
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
	crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContent     encapContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type encapContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

// SignedData is a parsed renewal request.
type SignedData struct {
	// Content is the encapsulated content: the DER PKCS#10 request.
	Content []byte
	// Certificates are those the SignedData carries.
	Certificates []*x509.Certificate

	hash      crypto.Hash
	sid       asn1.RawValue
	signed    []byte // what the signature covers
	signature []byte
	digest    []byte // messageDigest attribute, if signed attributes exist
}

// ErrMalformed wraps every parse error.
var ErrMalformed = errors.New("malformed PKCS#7 SignedData")

// Parse reads a DER ContentInfo holding a SignedData with one signer.
func Parse(der []byte) (*SignedData, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, bad("%v", err)
	} else if len(rest) > 0 {
		return nil, bad("%d trailing bytes", len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, bad("content type %s is not signedData", ci.ContentType)
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, bad("SignedData: %v", err)
	}
	if len(sd.SignerInfos) != 1 {
		return nil, bad("%d signers, want 1", len(sd.SignerInfos))
	}
	out := &SignedData{}
	if len(sd.EncapContent.Content.Bytes) > 0 {
		var octets []byte
		if _, err := asn1.Unmarshal(sd.EncapContent.Content.Bytes, &octets); err != nil {
			return nil, bad("content: %v", err)
		}
		out.Content = octets
	}
	if len(out.Content) == 0 {
		return nil, bad("no encapsulated content")
	}
	if len(sd.Certificates.Bytes) > 0 {
		certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
		if err != nil {
			return nil, bad("certificates: %v", err)
		}
		out.Certificates = certs
	}
	si := sd.SignerInfos[0]
	h, ok := digestAlgorithms[si.DigestAlgorithm.Algorithm.String()]
	if !ok {
		return nil, bad("digest algorithm %s is not accepted", si.DigestAlgorithm.Algorithm)
	}
	out.hash, out.sid, out.signature = h, si.SID, si.Signature
	if len(si.SignedAttrs.FullBytes) > 0 {
		// The signature covers the attributes DER-encoded as a SET.
		signed := append([]byte(nil), si.SignedAttrs.FullBytes...)
		signed[0] = 0x31
		out.signed = signed
		var attrs []attribute
		if _, err := asn1.UnmarshalWithParams(signed, &attrs, "set"); err != nil {
			return nil, bad("signed attributes: %v", err)
		}
		for _, a := range attrs {
			if a.Type.Equal(oidMessageDigest) {
				if _, err := asn1.Unmarshal(a.Values.Bytes, &out.digest); err != nil {
					return nil, bad("messageDigest: %v", err)
				}
			}
		}
		if out.digest == nil {
			return nil, bad("signed attributes without messageDigest")
		}
	} else {
		out.signed = out.Content
	}
	return out, nil
}

// Signer returns the certificate that signed, found among certs (the
// SignedData's own and any the caller adds, e.g. the TLS client
// certificate) by issuer and serial number or subject key identifier.
func (sd *SignedData) Signer(extra ...*x509.Certificate) (*x509.Certificate, error) {
	all := append(append([]*x509.Certificate(nil), extra...), sd.Certificates...)
	var ias issuerAndSerial
	if _, err := asn1.Unmarshal(sd.sid.FullBytes, &ias); err == nil && ias.Serial != nil {
		for _, c := range all {
			if c.SerialNumber.Cmp(ias.Serial) == 0 && bytes.Equal(c.RawIssuer, ias.Issuer.FullBytes) {
				return c, nil
			}
		}
		return nil, fmt.Errorf("the signer (serial %X) is not among the certificates", ias.Serial)
	}
	if sd.sid.Class == asn1.ClassContextSpecific && sd.sid.Tag == 0 {
		for _, c := range all {
			if len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, sd.sid.Bytes) {
				return c, nil
			}
		}
		return nil, errors.New("the signer (by key identifier) is not among the certificates")
	}
	return nil, errors.New("unknown signer identifier")
}

// ErrBadSignature is returned when the signature does not verify.
var ErrBadSignature = errors.New("PKCS#7 signature check failed")

// CheckSignature verifies that signer's key signed the content.
func (sd *SignedData) CheckSignature(signer *x509.Certificate) error {
	if sd.digest != nil {
		h := sd.hash.New()
		h.Write(sd.Content)
		if !bytes.Equal(h.Sum(nil), sd.digest) {
			return fmt.Errorf("%w: messageDigest does not match the content", ErrBadSignature)
		}
	}
	h := sd.hash.New()
	h.Write(sd.signed)
	sum := h.Sum(nil)
	var err error
	switch k := signer.PublicKey.(type) {
	case *rsa.PublicKey:
		err = rsa.VerifyPKCS1v15(k, sd.hash, sum, sd.signature)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, sum, sd.signature) {
			err = errors.New("ECDSA verification failed")
		}
	default:
		err = fmt.Errorf("unsupported key %T", signer.PublicKey)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return nil
}
