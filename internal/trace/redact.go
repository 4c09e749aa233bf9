// Package trace makes exchanges with devices readable without exposing
// secrets (pitfall P16): it redacts passwords, federated tokens, digest
// credentials and the digest secrets of provisioning documents from request
// and response bodies, and decodes the provisioning document so a trace
// shows what the device was told.
package trace

import (
	"encoding/base64"
	"regexp"
)

// Redacted replaces every secret value.
const Redacted = "REDACTED"

var (
	password      = regexp.MustCompile(`(<(?:[\w-]+:)?Password\b[^>]*>)[^<]*(<)`)
	userToken     = regexp.MustCompile(`(<(?:[\w-]+:)?BinarySecurityToken\b[^>]*ValueType="[^"]*(?:UserToken|jwt)"[^>]*>)[^<]*(<)`)
	credData      = regexp.MustCompile(`(?s)(<Cred>.*?<Data>)[^<]*(</Data>)`)
	provisionDoc  = regexp.MustCompile(`(<BinarySecurityToken\b[^>]*DeviceEnrollmentProvisionDoc"[^>]*>)([^<]*)(<)`)
	aauthSecret   = regexp.MustCompile(`(name="AAUTHSECRET" value=")[^"]*(")`)
	enrollToken   = regexp.MustCompile(`(name="EnrollmentToken" value=")[^"]*(")`)
	secretInclude = "${1}" + Redacted + "${2}"
)

// SOAP redacts an enrollment request or response. A provisioning document
// in a response is decoded inline (its digest secrets redacted), as the
// base64 would tell a reader nothing.
func SOAP(body []byte) string {
	b := password.ReplaceAll(body, []byte(secretInclude))
	b = userToken.ReplaceAll(b, []byte(secretInclude))
	b = provisionDoc.ReplaceAllFunc(b, func(m []byte) []byte {
		parts := provisionDoc.FindSubmatch(m)
		doc, err := base64.StdEncoding.DecodeString(string(parts[2]))
		if err != nil {
			return append(append(parts[1], Redacted...), parts[3]...)
		}
		doc = ProvisioningDocument(doc)
		return append(append(append(parts[1], "<!-- decoded -->"...), doc...), parts[3]...)
	})
	return string(b)
}

// ProvisioningDocument redacts the APPAUTH secrets and the company hub
// enrollment token of a wap-provisioningdoc.
func ProvisioningDocument(doc []byte) []byte {
	doc = aauthSecret.ReplaceAll(doc, []byte(secretInclude))
	return enrollToken.ReplaceAll(doc, []byte(secretInclude))
}

// SyncML redacts the digest credentials of a SyncML message.
func SyncML(body []byte) string {
	return string(credData.ReplaceAll(body, []byte(secretInclude)))
}
