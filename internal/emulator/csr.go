package emulator

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
)

var (
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidDeviceID         = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 66, 1, 0}
	oidOIWSHA1RSA       = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 29}
)

// WindowsCSR builds a PKCS#10 request the way Windows 10 does: one CN
// "<GUID>!<DeviceID>" followed by a NUL byte, tagged PrintableString (both
// '!' and NUL are illegal there), an extension request repeating the device
// ID (NUL-terminated) under 1.3.6.1.4.1.311.66.1.0, and a SHA-1 RSA
// signature under the OIW OID 1.3.14.3.2.29.
func WindowsCSR(key *rsa.PrivateKey, guid, deviceID string) ([]byte, error) {
	cn := asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagPrintableString, Bytes: []byte(strings.ToUpper(guid) + "!" + deviceID + "\x00")}
	subject, err := asn1.Marshal(pkix.RDNSequence{{{Type: oidCommonName, Value: cn}}})
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	exts, err := asn1.Marshal([]pkix.Extension{{Id: oidDeviceID, Value: []byte(deviceID + "\x00")}})
	if err != nil {
		return nil, err
	}
	attr, err := asn1.Marshal(struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}{oidExtensionRequest, []asn1.RawValue{{FullBytes: exts}}})
	if err != nil {
		return nil, err
	}
	info, err := asn1.Marshal(struct {
		Version    int
		Subject    asn1.RawValue
		PublicKey  asn1.RawValue
		Attributes []asn1.RawValue `asn1:"tag:0"`
	}{0, asn1.RawValue{FullBytes: subject}, asn1.RawValue{FullBytes: spki}, []asn1.RawValue{{FullBytes: attr}}})
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(info)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, sum[:])
	if err != nil {
		return nil, fmt.Errorf("signing the CSR: %w", err)
	}
	return asn1.Marshal(struct {
		Info      asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: info}, pkix.AlgorithmIdentifier{Algorithm: oidOIWSHA1RSA, Parameters: asn1.NullRawValue}, asn1.BitString{Bytes: sig, BitLength: len(sig) * 8}})
}
