package emulator

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/caddy-mdm/caddy-mdm/internal/pkcs7"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// Renew renews the device certificate as Windows does on its own (ROBO):
// the current certificate on the TLS connection, a new key's PKCS#10 inside
// a PKCS#7 signed with the old key. On success the device holds the new
// certificate and key.
func Renew(ctx context.Context, o Options, dev *Device, newKey *rsa.PrivateKey, r *Report) error {
	o.defaults()
	old, err := dev.Certificate()
	if err != nil {
		return err
	}
	csr, err := WindowsCSR(newKey, dev.GUID, dev.ID)
	if err != nil {
		return err
	}
	p7, err := pkcs7.Sign(csr, old, dev.key, crypto.SHA256)
	if err != nil {
		return err
	}
	deviceType, appVersion := o.identity()
	items := map[string]string{"DeviceID": dev.ID, "HWDevID": dev.HWDevID, "EnrollmentType": dev.EnrollmentType, "DeviceType": deviceType,
		"OSVersion": appVersion, "ApplicationVersion": appVersion}
	c := o.httpClient(dev.tlsCertificate())
	defer c.CloseIdleConnections()
	enrollURL, err := renewalEndpoints(ctx, &o, c, dev, r)
	if err != nil {
		return err
	}
	id, body := tokenRequest("", enrollURL, soap.RequestTypeRenew, soap.ValueTypePKCS7, p7, items, nil)
	e, err := post(ctx, c, enrollURL, soapType, body)
	if err != nil {
		r.check("renewal POST", false, "%v", err)
		return err
	}
	env, ok := soapAnswer(r, "renewal", e, soap.ActionRequestTokenResp, id)
	if !ok {
		return fmt.Errorf("renewal refused")
	}
	docXML, err := provisioningDocument(env)
	if !r.check("renewal returns a provisioning document", err == nil, "%s", errText(err)) {
		return err
	}
	doc, err := provdoc.Parse(docXML)
	if !r.check("renewal document parses", err == nil, "%s", errText(err)) {
		return err
	}
	store := "User"
	if dev.EnrollmentType == "Device" {
		store = "System"
	}
	var cert *x509.Certificate
	for _, n := range doc.Find("CertificateStore", "My", store).ChildrenOrNil() {
		if n.Type != "PrivateKeyContainer" {
			cert = docCert(r, "renewed", n)
		}
	}
	if !r.check("renewal document carries the new certificate", cert != nil, "") {
		return fmt.Errorf("no certificate")
	}
	pub, _ := x509.MarshalPKIXPublicKey(&newKey.PublicKey)
	r.check("P4 renewed certificate carries the new key", bytes.Equal(cert.RawSubjectPublicKeyInfo, pub), "")
	r.check("renewed certificate keeps the subject", cert.Subject.String() == old.Subject.String(), "%s", cert.Subject)
	r.check("renewal document names the provider (APPLICATION PROVIDER-ID)", doc.Child("APPLICATION").Value("PROVIDER-ID") == dev.ProviderID, "")
	r.check("P12 renewal document keeps EntDMID", doc.Find("DMClient", "Provider", dev.ProviderID).Value("EntDMID") != "", "")
	dev.CertDER, dev.key = cert.Raw, newKey
	dev.KeyPEM = string(pemKey(newKey))
	return nil
}

// renewalEndpoints walks the start of a renewal as the CertificateStore CSP
// describes it: Discover at the document's renewal ServerURL, then
// GetPolicies with nothing but the certificate on the connection. It
// returns the enrollment URL the RequestSecurityToken goes to. A device
// saved before renewal URLs were kept goes straight to its enrollment URL.
func renewalEndpoints(ctx context.Context, o *Options, c *http.Client, dev *Device, r *Report) (string, error) {
	if dev.RenewURL == "" {
		return dev.EnrollmentURL, nil
	}
	deviceType, appVersion := o.identity()
	id, body := discoverRequest(dev.RenewURL, o.User, o.RequestVersion, deviceType, appVersion)
	e, err := post(ctx, c, dev.RenewURL, soapType, body)
	if err != nil {
		r.check("renewal discovery POST", false, "%v", err)
		return "", err
	}
	env, ok := soapAnswer(r, "renewal discovery at the document's ServerURL", e, soap.ActionDiscoverResponse, id)
	if !ok {
		return "", fmt.Errorf("renewal discovery refused")
	}
	res := soap.Child(env.Body, "DiscoverResult")
	policyURL := soap.Text(soap.Child(res, "EnrollmentPolicyServiceUrl"))
	enrollURL := soap.Text(soap.Child(res, "EnrollmentServiceUrl"))
	id, body = policyRequest(&Options{}, policyURL)
	if e, err = post(ctx, c, policyURL, soapType, body); err != nil {
		r.check("renewal policy POST", false, "%v", err)
		return "", err
	}
	if _, ok := soapAnswer(r, "renewal policy with the device certificate only", e, soap.ActionGetPoliciesResponse, id); !ok {
		return "", fmt.Errorf("renewal policy refused")
	}
	return enrollURL, nil
}
