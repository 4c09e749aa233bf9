// Package pkcs7 reads and writes the CMS SignedData (PKCS#7) that Windows
// sends to renew its MDM certificate: a PKCS#10 request wrapped in a
// SignedData signed with the key of the certificate being renewed (MS-WSTEP
// renewal, ValueType ...#PKCS7). Only what renewal needs is implemented:
// one signer, DER encoding, signed attributes optional.
package pkcs7
