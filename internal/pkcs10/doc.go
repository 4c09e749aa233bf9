// Package pkcs10 parses certificate signing requests the way a Windows MDM
// server must: tolerantly, and with the signature checked.
//
// Real Windows 10/11 CSRs carry a subject CN of the form "<GUID>!<DeviceID>"
// followed by a NUL byte, tagged PrintableString, where neither '!' nor NUL is
// a legal PrintableString character (pitfall P5). Go's
// x509.ParseCertificateRequest rejects them, so this package walks the ASN.1
// itself and keeps the subject as raw bytes: the server never reuses it, it
// only logs it. They are also signed with the OIW OID for SHA-1 with RSA
// (1.3.14.3.2.29), which x509 does not know either.
package pkcs10
