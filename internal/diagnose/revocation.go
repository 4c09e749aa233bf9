package diagnose

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/http"
	"strings"
)

// maxRevocationURLs bounds the URLs fetched for one chain.
const maxRevocationURLs = 8

// revocationURLs lists the CRL, OCSP and CA issuer (AIA) URLs of certificates.
func revocationURLs(certs ...*x509.Certificate) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range certs {
		for _, list := range [][]string{c.CRLDistributionPoints, c.OCSPServer, c.IssuingCertificateURL} {
			for _, u := range list {
				if !seen[u] && len(out) < maxRevocationURLs {
					seen[u] = true
					out = append(out, u)
				}
			}
		}
	}
	return out
}

// fetchURLs GETs each URL (CRLs and CA certificates are served over plain
// HTTP; an OCSP responder answers a GET too, if only with an error
// status); the ones that do not answer are returned with why.
func (d *run) fetchURLs(ctx context.Context, urls []string) []string {
	c := &http.Client{Timeout: d.opts.Timeout}
	var bad []string
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			bad = append(bad, u+": "+err.Error())
			continue
		}
		resp, err := c.Do(req)
		if err != nil {
			bad = append(bad, u+": "+err.Error())
			continue
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusNotFound {
			bad = append(bad, u+": "+resp.Status)
		}
	}
	return bad
}

// checkRevocationURLs checks that the CRL and AIA URLs a chain names
// answer: Windows checks revocation where a certificate names where to.
func (d *run) checkRevocationURLs(ctx context.Context, what string, chain []*x509.Certificate) {
	name := what + "-revocation"
	urls := revocationURLs(chain...)
	if len(urls) == 0 {
		d.info(name, "the %s certificates name no CRL, OCSP or CA issuer URL: nothing to fetch", what)
		return
	}
	if bad := d.fetchURLs(ctx, urls); len(bad) > 0 {
		d.warn(name, "publish them where devices reach them over HTTP, or use a CA whose URLs are public: Windows checks revocation of certificates that name where to",
			"%d of %d revocation/AIA URLs of the %s certificates do not answer: %s", len(bad), len(urls), what, strings.Join(bad, "; "))
		return
	}
	d.pass(name, "the %s certificates' revocation/AIA URLs answer: %s", what, strings.Join(urls, ", "))
}

// checkDeviceCA says what can be known of the device CA without
// credentials: the CAs the server asks client certificates of (in the
// TLS handshake), and, given the CA certificate (--device-ca), whether
// its CRL and AIA URLs answer.
func (d *run) checkDeviceCA(ctx context.Context) {
	hs := d.clientAuth
	switch {
	case hs == nil:
	case !hs.askedForCert:
		d.warn("client-auth", "add to the site's tls block: client_auth { mode verify_if_given; trust_pool mdm_device_ca } (not needed with management_auth digest)",
			"%s does not ask for client certificates: devices cannot present the certificate issued at enrollment for OMA-DM", d.host)
	default:
		d.pass("client-auth", "%s asks for client certificates (devices present the one issued at enrollment) of: %s", d.host, caNames(hs.clientCAs))
	}
	if d.opts.DeviceCA == nil {
		d.info("device-ca-revocation", "device certificates are only seen with credentials; caddy-mdm's carry no CRL or AIA URL, so devices check no revocation for them (keep crl_check off). Give --device-ca <pem> to check a device CA from files")
		return
	}
	d.checkRevocationURLs(ctx, "device-ca", []*x509.Certificate{d.opts.DeviceCA})
}

// caNames reads the DER subjects of a CertificateRequest.
func caNames(ders [][]byte) string {
	if len(ders) == 0 {
		return "any CA (the server names none)"
	}
	var names []string
	for _, der := range ders {
		var rdn pkix.RDNSequence
		if _, err := asn1.Unmarshal(der, &rdn); err != nil {
			names = append(names, "(unreadable name)")
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&rdn)
		names = append(names, n.String())
	}
	return strings.Join(names, "; ")
}
