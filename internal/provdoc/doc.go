// Package provdoc writes the wap-provisioningdoc (version 1.1) that a device
// receives at the end of enrollment, base64-encoded in the MS-WSTEP response.
//
// It configures, in one document, everything the device needs to be managed:
// the trusted root and its own client certificate (CertificateStore), the
// OMA-DM account (the w7 APPLICATION), the DMClient provider node, and for
// Windows Phone 8 the OmaDmRetry registry values and company hub enrollment.
// Pitfalls P4-P12 live here; each has a test in this package.
package provdoc
