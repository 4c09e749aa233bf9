package traceview

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs7"
)

// maxCertificates bounds the certificates decoded from one body.
const maxCertificates = 32

// certificates decodes what a body carries: EncodedCertificate parms of a
// provisioning document, and PKCS#10 or PKCS#7 BinarySecurityTokens.
func certificates(root *etree.Element) []Certificate {
	var out []Certificate
	var walk func(e *etree.Element, where []string)
	walk = func(e *etree.Element, where []string) {
		for _, c := range e.ChildElements() {
			if len(out) >= maxCertificates {
				return
			}
			switch localLower(c.Tag) {
			case "characteristic":
				walk(c, append(where, attr(c, "type")))
			case "parm":
				if strings.EqualFold(attr(c, "name"), "EncodedCertificate") {
					// The store path without the thumbprint the certificate is filed under.
					at := where
					if len(at) > 0 {
						at = at[:len(at)-1]
					}
					out = append(out, decodeCertificate(strings.Join(at, "/"), attr(c, "value")))
				}
			case "binarysecuritytoken":
				switch vt := strings.ToLower(attr(c, "valuetype")); {
				case strings.HasSuffix(vt, "#pkcs10"):
					out = append(out, decodeRequest("PKCS#10 request", text(c)))
				case strings.HasSuffix(vt, "#pkcs7"):
					out = append(out, decodeRenewal(text(c))...)
				default:
					walk(c, where)
				}
			default:
				walk(c, where)
			}
		}
	}
	walk(root, nil)
	return out
}

func decodeB64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
}

func decodeCertificate(where, b64 string) Certificate {
	der, err := decodeB64(b64)
	if err != nil {
		return Certificate{Where: where, Error: "not base64: " + err.Error()}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Certificate{Where: where, Error: err.Error()}
	}
	return describeCertificate(where, cert)
}

func describeCertificate(where string, cert *x509.Certificate) Certificate {
	sum := sha1.Sum(cert.Raw)
	return Certificate{
		Where:        where,
		Subject:      cert.Subject.String(),
		Issuer:       cert.Issuer.String(),
		NotBefore:    cert.NotBefore,
		NotAfter:     cert.NotAfter,
		Thumbprint:   strings.ToUpper(hex.EncodeToString(sum[:])),
		Serial:       strings.ToUpper(cert.SerialNumber.Text(16)),
		KeyAlgorithm: keyAlgorithm(cert.PublicKey),
		IsCA:         cert.IsCA,
	}
}

// decodeRequest reads a PKCS#10 with the tolerant parser real Windows CSRs
// need (their subject is not a valid PrintableString).
func decodeRequest(where, b64 string) Certificate {
	der, err := decodeB64(b64)
	if err != nil {
		return Certificate{Where: where, Error: "not base64: " + err.Error()}
	}
	req, err := pkcs10.Parse(der)
	if err != nil {
		return Certificate{Where: where, Error: err.Error()}
	}
	return Certificate{Where: where, Subject: "CN=" + printable(req.SubjectCN), KeyAlgorithm: keyAlgorithm(req.PublicKey)}
}

// decodeRenewal reads a renewal's SignedData: the certificates it carries
// (the one being renewed) and the request inside.
func decodeRenewal(b64 string) []Certificate {
	der, err := decodeB64(b64)
	if err != nil {
		return []Certificate{{Where: "PKCS#7 renewal request", Error: "not base64: " + err.Error()}}
	}
	sd, err := pkcs7.Parse(der)
	if err != nil {
		return []Certificate{{Where: "PKCS#7 renewal request", Error: err.Error()}}
	}
	var out []Certificate
	for _, c := range sd.Certificates {
		out = append(out, describeCertificate("PKCS#7 signer (the certificate being renewed)", c))
	}
	out = append(out, decodeRequest("PKCS#10 request inside the PKCS#7", base64.StdEncoding.EncodeToString(sd.Content)))
	return out
}

func keyAlgorithm(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA " + strconv.Itoa(k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// printable shows bytes as text, escaping what is not printable ASCII
// (a real Windows CSR's CN ends in a NUL byte).
func printable(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, `\x%02x`, c)
		}
	}
	return s.String()
}
