package issuer

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
)

// oidCommonName is id-at-commonName.
var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// maxCommonName is ub-common-name from RFC 5280.
const maxCommonName = 64

// IsPrintableString reports whether s is non-empty and uses only the
// characters of ASN.1 PrintableString (X.680: letters, digits, space and
// '()+,-./:=?), which excludes NUL, '!', '*', '@', '&' and '_'.
func IsPrintableString(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(" '()+,-./:=?", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Subject is a certificate subject made of one common name, held as the DER
// the certificate will carry and as the string Windows matches it with.
type Subject struct {
	CommonName string
	DER        []byte
}

// NewSubject encodes CN=commonName with the value tagged PrintableString.
// It refuses values PrintableString cannot hold instead of silently
// switching to UTF8String as x509.CreateCertificate would.
func NewSubject(commonName string) (Subject, error) {
	if !IsPrintableString(commonName) {
		return Subject{}, fmt.Errorf("common name %q is not a PrintableString", commonName)
	}
	if len(commonName) > maxCommonName {
		return Subject{}, fmt.Errorf("common name is %d characters, more than %d", len(commonName), maxCommonName)
	}
	value := asn1.RawValue{Tag: asn1.TagPrintableString, Class: asn1.ClassUniversal, Bytes: []byte(commonName)}
	rdn := pkix.RDNSequence{{{Type: oidCommonName, Value: value}}}
	der, err := asn1.Marshal(rdn)
	if err != nil {
		return Subject{}, err
	}
	return Subject{CommonName: commonName, DER: der}, nil
}

// String is the subject as Windows writes and matches it: "CN=<name>".
func (s Subject) String() string { return "CN=" + s.CommonName }
