package emulator

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

const soapType = "application/soap+xml; charset=utf-8"

// appVersion and deviceType are what the device says it is.
func (o *Options) identity() (deviceType, appVersion string) {
	if o.WindowsPhone8 {
		return "WindowsPhone", "8.10.14219.341"
	}
	return "CIMClient_Windows", "10.0.19043.2364"
}

// Enroll runs discovery, GetPolicies and RequestSecurityToken as Windows
// does, checking each answer, and stores the result in dev.
func Enroll(ctx context.Context, o Options, dev *Device, r *Report) error {
	o.defaults()
	du, err := o.discoveryURL()
	if err != nil {
		return err
	}
	c := o.httpClient(nil)
	defer c.CloseIdleConnections()
	host := du.Hostname()
	r.check("P1 enrollment host is a DNS name", !isIP(host), "%s", host)

	// GET: Windows probes the discovery URL first.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, du.String(), nil)
	e, err := do(c, req)
	if err != nil {
		r.check("discovery GET", false, "%v", err)
		return err
	}
	checkTLSName(r, e, host)
	r.check("discovery GET answers 200 with an empty body", e.resp.StatusCode == 200 && len(e.body) == 0, "HTTP %d, %d bytes", e.resp.StatusCode, len(e.body))

	// POST Discover.
	deviceType, appVersion := o.identity()
	id, body := discoverRequest(du.String(), o.User, o.RequestVersion, deviceType, appVersion)
	e, err = post(ctx, c, du.String(), soapType, body)
	if err != nil {
		r.check("discovery POST", false, "%v", err)
		return err
	}
	env, ok := soapAnswer(r, "discovery", e, soap.ActionDiscoverResponse, id)
	if !ok {
		return fmt.Errorf("discovery failed")
	}
	res := soap.Child(env.Body, "DiscoverResult")
	policy := soap.Text(soap.Child(res, "AuthPolicy"))
	policyURL := soap.Text(soap.Child(res, "EnrollmentPolicyServiceUrl"))
	enrollURL := soap.Text(soap.Child(res, "EnrollmentServiceUrl"))
	version := soap.Text(soap.Child(res, "EnrollmentVersion"))
	r.check("discovery AuthPolicy is one the device offered", policy == "OnPremise" || policy == "Federated" || policy == "Certificate", "%q", policy)
	r.check("discovery EnrollmentVersion <= RequestVersion", versionLE(version, o.RequestVersion), "%s for %s", version, o.RequestVersion)
	r.check("P1 policy and enrollment URLs are HTTPS on a DNS name", httpsName(policyURL) && httpsName(enrollURL), "%s, %s", policyURL, enrollURL)
	if policy == "Federated" && o.JWT == "" { // Entra enrollment skips AuthenticationServiceUrl
		// MS-MDE2 3.2: the AuthenticationServiceUrl MUST support HTTPS.
		asu := soap.Text(soap.Child(res, "AuthenticationServiceUrl"))
		r.check("discovery gives the AuthenticationServiceUrl of a Federated policy, over HTTPS", httpsName(asu), "%q", asu)
	}

	// GetPolicies.
	id, body = policyRequest(&o, policyURL)
	if e, err = post(ctx, c, policyURL, soapType, body); err != nil {
		r.check("policy POST", false, "%v", err)
		return err
	}
	env, ok = soapAnswer(r, "policy", e, soap.ActionGetPoliciesResponse, id)
	if !ok {
		return fmt.Errorf("policy failed")
	}
	minKey := checkPolicy(r, env)
	keyBits := dev.key.N.BitLen()
	r.check("device key meets minimalKeyLength", keyBits >= minKey, "%d bits, policy %d", keyBits, minKey)

	// RequestSecurityToken with a Windows-shaped CSR.
	csr, err := WindowsCSR(dev.key, dev.GUID, dev.ID)
	if err != nil {
		return err
	}
	ctxItems := map[string]string{
		"UXInitiated": "true", "HWDevID": dev.HWDevID, "Locale": "en-US", "TargetedUserLoggedIn": "true", "OSEdition": "72",
		"DeviceName": "EMULATOR-" + dev.ID[:6], "DeviceID": dev.ID, "EnrollmentType": o.EnrollmentType,
		"DeviceType": deviceType, "OSVersion": appVersion, "ApplicationVersion": appVersion, "NotInOobe": "false",
	}
	if o.EnrollmentData != "" {
		ctxItems["EnrollmentData"] = o.EnrollmentData
	}
	id, body = tokenRequest(security(&o), enrollURL, soap.RequestTypeIssue, soap.ValueTypePKCS10, csr, ctxItems, []string{"00-0C-29-51-60-9D"})
	if e, err = post(ctx, c, enrollURL, soapType, body); err != nil {
		r.check("enrollment POST", false, "%v", err)
		return err
	}
	env, ok = soapAnswer(r, "enrollment", e, soap.ActionRequestTokenResp, id)
	if !ok {
		return fmt.Errorf("enrollment failed")
	}
	docXML, err := provisioningDocument(env)
	if !r.check("enrollment returns a provisioning document", err == nil, "%s", errText(err)) {
		return err
	}
	dev.EnrollmentURL = enrollURL
	dev.EnrollmentType = o.EnrollmentType
	return checkDocument(r, &o, dev, csr, docXML)
}

// soapAnswer checks the framing, action and RelatesTo of a SOAP answer.
func soapAnswer(r *Report, what string, e *exchange, action, relatesTo string) (*soap.Envelope, bool) {
	r.check(what+" answer has Content-Length, no chunking or encoding", e.framed(), "Content-Length %d for %d bytes", e.resp.ContentLength, len(e.body))
	env, err := soap.Parse(e.body)
	if err != nil {
		r.check(what+" answer is a SOAP envelope", false, "HTTP %d: %v", e.resp.StatusCode, err)
		return nil, false
	}
	hdr := etree.NewDocument()
	_ = hdr.ReadFromBytes(e.body)
	if env.Body.Tag == "Fault" {
		r.check(what+" succeeds", false, "fault %s: %s", soap.Text(soap.Path(env.Body, "Code", "Subcode", "Value")), soap.Text(soap.Path(env.Body, "Reason", "Text")))
		r.check(what+" fault carries the operation's response action (MS-MDE2 fault example)", env.Action == action, "%q", env.Action)
		return env, false
	}
	r.check(what+" answer action", env.Action == action, "%q", env.Action)
	aid := hdr.FindElement("//ActivityId")
	r.check(what+" answer header has an ActivityId, as real answers do", aid != nil && aid.SelectAttrValue("CorrelationId", "") != "", "")
	relates := ""
	if el := hdr.FindElement("//RelatesTo"); el != nil {
		relates = strings.TrimSpace(el.Text())
	}
	r.check(what+" RelatesTo echoes the MessageID", relates == relatesTo, "%q", relates)
	return env, e.resp.StatusCode == 200
}

// checkPolicy verifies P2 and returns minimalKeyLength.
func checkPolicy(r *Report, env *soap.Envelope) int {
	attrs := soap.Path(env.Body, "response", "policies", "policy", "attributes")
	minKey, _ := strconv.Atoi(soap.Text(soap.Path(attrs, "privateKeyAttributes", "minimalKeyLength")))
	r.check("P2 minimalKeyLength is set", minKey > 0, "%d", minKey)
	ref := soap.Text(soap.Child(attrs, "hashAlgorithmOIDReference"))
	found := ""
	for _, o := range soap.Children(soap.Child(env.Body, "oIDs"), "oID") {
		if soap.Text(soap.Child(o, "oIDReferenceID")) == ref {
			found = soap.Text(soap.Child(o, "value"))
		}
	}
	r.check("P2 hashAlgorithmOIDReference names an oID of the response", ref != "" && found != "", "reference %q → %q", ref, found)
	return minKey
}

func provisioningDocument(env *soap.Envelope) ([]byte, error) {
	bst := soap.Path(env.Body, "RequestSecurityTokenResponse", "RequestedSecurityToken", "BinarySecurityToken")
	if bst == nil {
		return nil, fmt.Errorf("no RequestedSecurityToken/BinarySecurityToken")
	}
	if vt := bst.SelectAttrValue("ValueType", ""); vt != soap.ValueTypeProvisionDoc {
		return nil, fmt.Errorf("ValueType %q", vt)
	}
	return base64.StdEncoding.DecodeString(strings.TrimSpace(bst.Text()))
}

// checkDocument verifies the provisioning document against P4-P14 and
// takes from it what the device keeps.
func checkDocument(r *Report, o *Options, dev *Device, csrDER, docXML []byte) error {
	doc, err := provdoc.Parse(docXML)
	if !r.check("provisioning document parses (wap-provisioningdoc 1.1)", err == nil, "%s", errText(err)) {
		return err
	}
	store := "User"
	if o.EnrollmentType == "Device" {
		store = "System"
	}
	roots := doc.Find("CertificateStore", "Root", "System")
	var root, cert *x509.Certificate
	if roots != nil && len(roots.Children) > 0 {
		root = docCert(r, "root", roots.Children[0])
	}
	r.check("root certificate in CertificateStore/Root/System", root != nil, "")
	my := doc.Find("CertificateStore", "My", store)
	r.check("client certificate store is My/"+store+" with a PrivateKeyContainer", my != nil && my.Child("PrivateKeyContainer") != nil, "")
	for _, n := range my.ChildrenOrNil() {
		if n.Type != "PrivateKeyContainer" {
			cert = docCert(r, "client", n)
		}
	}
	if !r.check("client certificate in the document", cert != nil, "") {
		return fmt.Errorf("no client certificate")
	}
	csr, _ := pkcs10.Parse(csrDER)
	r.check("P4 certificate carries the CSR's public key", bytes.Equal(cert.RawSubjectPublicKeyInfo, csr.RawSubjectPublicKeyInfo), "")
	r.check("P5 subject re-chosen by the server", !bytes.Equal(cert.RawSubject, csr.RawSubject), "%s", cert.Subject)
	printable, nul := subjectEncoding(cert.RawSubject)
	r.check("P6 subject is PrintableString", printable, "")
	r.check("P6 subject holds no NUL", !nul, "")
	if root != nil {
		pool := x509.NewCertPool()
		pool.AddCert(root)
		inter := x509.NewCertPool()
		for _, n := range doc.Find("CertificateStore", "CA", "System").ChildrenOrNil() {
			if c := docCert(r, "intermediate", n); c != nil {
				inter.AddCert(c)
			}
		}
		_, err := cert.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		r.check("certificate chains to the document's root for clientAuth", err == nil, "%s", errText(err))
	}
	app := doc.Child("APPLICATION")
	crit := app.Value("SSLCLIENTCERTSEARCHCRITERIA")
	q, _ := url.ParseQuery(crit)
	r.check("P7 SSLCLIENTCERTSEARCHCRITERIA matches the issued subject and store",
		q.Get("Subject") == subjectString(cert) && q.Get("Stores") == `My\`+store && strings.Contains(crit, "%5C"), "%q", crit)
	r.check("APPLICATION is w7 with an https ADDR", app.Value("APPID") == "w7" && httpsName(app.Value("ADDR")), "%q", app.Value("ADDR"))
	var client, srv *provdoc.Node
	for _, a := range app.ChildrenOf("APPAUTH") {
		switch a.Value("AAUTHLEVEL") {
		case "CLIENT":
			client = a
		case "APPSRV":
			srv = a
		}
	}
	r.check("P8 both APPAUTH entries (CLIENT and APPSRV), DIGEST", client != nil && srv != nil &&
		client.Value("AAUTHTYPE") == "DIGEST" && srv.Value("AAUTHTYPE") == "DIGEST", "")
	if client != nil && srv != nil {
		r.check("P14 APPAUTH nonces are 16 bytes", nonce16(client.Value("AAUTHDATA")) && nonce16(srv.Value("AAUTHDATA")), "")
		dev.ClientSecret, dev.ClientNonce = client.Value("AAUTHSECRET"), client.Value("AAUTHDATA")
		dev.ServerName, dev.ServerSecret, dev.ServerNonce = srv.Value("AAUTHNAME"), srv.Value("AAUTHSECRET"), srv.Value("AAUTHDATA")
	}
	provider := app.Value("PROVIDER-ID")
	entDMID := doc.Find("DMClient", "Provider", provider).Value("EntDMID")
	r.check("P12 DMClient EntDMID is set", entDMID != "", "%q", entDMID)
	if o.WindowsPhone8 {
		retry := doc.Find("Registry", `HKLM\Security\MachineEnrollment\OmaDmRetry`)
		an, _ := strconv.Atoi(retry.Value("AuxNumRetries"))
		ai, _ := strconv.Atoi(retry.Value("AuxRetryInterval"))
		r.check("P9 OmaDmRetry AuxNumRetries and AuxRetryInterval > 0", an > 0 && ai > 0, "%d, %d", an, ai)
		if ea := doc.Child("EnterpriseAppManagement"); ea != nil && len(ea.Children) > 0 {
			n := ea.Children[0]
			r.check("P10 EnterpriseAppManagement has an Enterprise ID and EnrollmentToken", n.Type != "" && n.Value("EnrollmentToken") != "", "%s", n.Type)
			r.check("P11 hub CertificateSearchCriteria matches the issued subject", n.Value("CertificateSearchCriteria") == crit, "%q", n.Value("CertificateSearchCriteria"))
		}
	}
	dev.CertDER, dev.ProviderID, dev.ManagementURL = cert.Raw, provider, app.Value("ADDR")
	dev.RenewURL = doc.Find("CertificateStore", "My", "WSTEP", "Renew").Value("ServerURL")
	if root != nil {
		dev.RootDER = root.Raw
	}
	return nil
}

// docCert decodes an EncodedCertificate and checks its thumbprint name.
func docCert(r *Report, what string, n *provdoc.Node) *x509.Certificate {
	der, err := base64.StdEncoding.DecodeString(n.Value("EncodedCertificate"))
	if err != nil {
		r.check(what+" certificate is base64", false, "%v", err)
		return nil
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		r.check(what+" certificate parses", false, "%v", err)
		return nil
	}
	sum := sha1.Sum(der)
	r.check(what+" certificate is named by its upper-case SHA-1 thumbprint", n.Type == strings.ToUpper(hex.EncodeToString(sum[:])), "%s", n.Type)
	return c
}

// subjectEncoding reports whether every subject value is a PrintableString
// and whether any holds a NUL.
func subjectEncoding(raw []byte) (printable, nul bool) {
	var rdns []asn1.RawValue
	if _, err := asn1.Unmarshal(raw, &rdns); err != nil {
		return false, false
	}
	printable = true
	for _, rdn := range rdns {
		var atvs []struct {
			Type  asn1.ObjectIdentifier
			Value asn1.RawValue
		}
		if _, err := asn1.UnmarshalWithParams(rdn.FullBytes, &atvs, "set"); err != nil {
			return false, false
		}
		for _, a := range atvs {
			printable = printable && a.Value.Tag == asn1.TagPrintableString
			nul = nul || bytes.IndexByte(a.Value.Bytes, 0) >= 0
		}
	}
	return printable, nul
}

// subjectString is the subject as Windows writes it for single-CN subjects.
func subjectString(c *x509.Certificate) string { return "CN=" + c.Subject.CommonName }

func nonce16(b64 string) bool {
	b, err := base64.StdEncoding.DecodeString(b64)
	return err == nil && len(b) == 16
}
