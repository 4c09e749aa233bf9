package pkcs7

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

var (
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

// Sign wraps content in a SignedData signed by key, carrying cert, with
// signed attributes (contentType, messageDigest) as Windows renewal
// requests do. The emulator and the tests use it to renew like a device.
func Sign(content []byte, cert *x509.Certificate, key crypto.Signer, hash crypto.Hash) ([]byte, error) {
	digestOID, ok := digestOIDs[hash]
	if !ok {
		return nil, fmt.Errorf("unsupported hash %v", hash)
	}
	h := hash.New()
	h.Write(content)
	digest, _ := asn1.Marshal(h.Sum(nil))
	ctype, _ := asn1.Marshal(oidData)
	attrs := []attribute{
		{Type: oidContentType, Values: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: ctype}},
		{Type: oidMessageDigest, Values: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: digest}},
	}
	attrSet, err := asn1.MarshalWithParams(attrs, "set")
	if err != nil {
		return nil, err
	}
	ah := hash.New()
	ah.Write(attrSet)
	sig, err := key.Sign(rand.Reader, ah.Sum(nil), hash)
	if err != nil {
		return nil, err
	}
	var sigAlg asn1.ObjectIdentifier
	switch key.(type) {
	case *rsa.PrivateKey:
		sigAlg = oidRSAEncryption
	case *ecdsa.PrivateKey:
		sigAlg = oidECDSASHA256
	default:
		return nil, fmt.Errorf("unsupported key %T", key)
	}
	sid, err := asn1.Marshal(issuerAndSerial{Issuer: asn1.RawValue{FullBytes: cert.RawIssuer}, Serial: cert.SerialNumber})
	if err != nil {
		return nil, err
	}
	signedAttrs := append([]byte(nil), attrSet...)
	signedAttrs[0] = 0xA0 // [0] IMPLICIT
	octets, _ := asn1.Marshal(content)
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{{Algorithm: digestOID, Parameters: asn1.NullRawValue}},
		EncapContent:     encapContentInfo{ContentType: oidData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: octets}},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: cert.Raw},
		SignerInfos: []signerInfo{{
			Version:            1,
			SID:                asn1.RawValue{FullBytes: sid},
			DigestAlgorithm:    pkix.AlgorithmIdentifier{Algorithm: digestOID, Parameters: asn1.NullRawValue},
			SignedAttrs:        asn1.RawValue{FullBytes: signedAttrs},
			SignatureAlgorithm: pkix.AlgorithmIdentifier{Algorithm: sigAlg},
			Signature:          sig,
		}},
	}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
}
