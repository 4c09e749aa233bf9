// Package issuer signs device client certificates.
//
// Three rules come from the field's pitfalls: the certificate carries exactly
// the public key of the device's PKCS#10 request (P4); its subject is chosen
// by the server, never copied from the request (P5); and that subject is
// encoded as ASN.1 PrintableString with no NUL byte (P6), because Windows
// finds the certificate again by matching a C string against it.
package issuer
