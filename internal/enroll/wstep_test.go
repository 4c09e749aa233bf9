package enroll

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// TestRealDevicesEnroll replays the enrollment requests of devices A and B
// and checks the issued certificate and provisioning document against every
// rule a real device depends on.
func TestRealDevicesEnroll(t *testing.T) {
	for _, caKind := range []string{"ecdsa", "rsa"} {
		for _, tc := range []struct{ file, deviceID, user string }{
			{"a-enroll-request.xml", "1E08C6E95D8BB843B1278FF45BC60CC6", "demo@mdmwindows.com"},
			{"b-enroll-request.xml", "B5B954E81FBCB94EB79BD08BE625F4EE", "demio"},
		} {
			t.Run(caKind+"/"+tc.file, func(t *testing.T) {
				s := newTestService(t, caKind)
				req := capture.Read(t, tc.file)
				resp, issued, err := s.enroll(t, req)
				if err != nil {
					t.Fatal(err)
				}
				checkEnrollment(t, s, capture.CSR(t, tc.file), resp, issued, tc.deviceID, tc.user)
			})
		}
	}
}

func checkEnrollment(t *testing.T, s *testService, csrDER, resp []byte, issued *Issued, deviceID, user string) {
	t.Helper()
	csr, err := pkcs10.Parse(csrDER)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<a:Action s:mustUnderstand="1">` + soap.ActionRequestTokenResp + `</a:Action>`,
		`<RequestSecurityTokenResponseCollection xmlns="` + soap.NSTrust + `">`,
		`ValueType="` + soap.ValueTypeProvisionDoc + `"`,
		`<a:RelatesTo>urn:uuid:0d5a1441-5891-453b-becf-a2e5f6ea3749</a:RelatesTo>`,
		`<u:Timestamp u:Id="_0">`,
	} {
		if !bytes.Contains(resp, []byte(want)) {
			t.Errorf("response lacks %s", want)
		}
	}
	raw, doc := provisioningDocument(t, resp)

	// Root/System holds the CA root under its thumbprint.
	rootNodes := doc.Find("CertificateStore", "Root", "System").Children
	if len(rootNodes) != 1 {
		t.Fatalf("Root/System has %d certificates", len(rootNodes))
	}
	root := decodeCert(t, rootNodes[0])
	if !root.Equal(s.Issuer.CA.Root) {
		t.Error("Root/System certificate is not the CA root")
	}
	checkThumbprint(t, rootNodes[0].Type, root)

	// My/User holds the client certificate and a PrivateKeyContainer.
	myUser := doc.Find("CertificateStore", "My", "User")
	var certNode *provdoc.Node
	for _, c := range myUser.Children {
		if c.Type != "PrivateKeyContainer" {
			certNode = c
		}
	}
	if certNode == nil || myUser.Child("PrivateKeyContainer") == nil {
		t.Fatal("My/User lacks the certificate or PrivateKeyContainer")
	}
	cert := decodeCert(t, certNode)
	checkThumbprint(t, certNode.Type, cert)
	if !cert.Equal(issued.Certificate) {
		t.Error("document certificate differs from the issued one")
	}

	// P4: exactly the CSR's public key.
	if !bytes.Equal(cert.RawSubjectPublicKeyInfo, csr.RawSubjectPublicKeyInfo) {
		t.Error("certificate public key differs from the CSR's (P4)")
	}
	// P5: subject re-chosen.
	if bytes.Equal(cert.RawSubject, csr.RawSubject) {
		t.Error("certificate subject copied from the CSR (P5)")
	}
	if cert.Subject.CommonName != deviceID {
		t.Errorf("subject CN %q, want the device ID %q", cert.Subject.CommonName, deviceID)
	}
	// P6: PrintableString, no NUL.
	checkPrintableSubject(t, cert.RawSubject)
	// Chains to the root in the document, for client authentication.
	pool := x509.NewCertPool()
	pool.AddCert(root)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate does not chain to the document root for clientAuth: %v", err)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("ExtKeyUsage %v, want clientAuth only", cert.ExtKeyUsage)
	}
	if cert.IsCA {
		t.Error("device certificate is a CA")
	}

	// P7: search criteria match the issued subject, escaped once.
	app := doc.Child("APPLICATION")
	crit := app.Value("SSLCLIENTCERTSEARCHCRITERIA")
	wantCrit := "Subject=CN%3D" + deviceID + "&Stores=My%5CUser"
	if crit != wantCrit {
		t.Errorf("SSLCLIENTCERTSEARCHCRITERIA %q, want %q", crit, wantCrit)
	}
	q, err := url.ParseQuery(crit)
	if err != nil || q.Get("Subject") != "CN="+cert.Subject.CommonName || q.Get("Stores") != `My\User` {
		t.Errorf("search criteria decode to %v (%v), want the issued subject", q, err)
	}
	if !bytes.Contains(raw, []byte("&amp;Stores=My%5CUser")) || bytes.Contains(raw, []byte("&amp;amp;")) {
		t.Error("search criteria not XML-escaped exactly once")
	}

	// APPLICATION w7.
	for name, want := range map[string]string{
		"APPID": "w7", "PROVIDER-ID": "caddy-mdm", "ADDR": testEndpoints.Management,
		"DEFAULTENCODING": "application/vnd.syncml.dm+xml",
	} {
		if got := app.Value(name); got != want {
			t.Errorf("APPLICATION %s = %q, want %q", name, got, want)
		}
	}
	if p, ok := app.Parms["BACKCOMPATRETRYDISABLED"]; !ok || p.HasValue {
		t.Error("BACKCOMPATRETRYDISABLED missing or has a value")
	}
	for _, n := range []string{"CONNRETRYFREQ", "INITIALBACKOFFTIME", "MAXBACKOFFTIME"} {
		if app.Value(n) == "" {
			t.Errorf("APPLICATION %s missing", n)
		}
	}
	if _, ok := app.Parms["ROLE"]; ok {
		t.Error("ROLE present")
	}

	// P8, P14: both APPAUTH, DIGEST, 16-byte nonces, secrets as stored.
	dev, err := s.Store.Device(context.Background(), deviceID)
	if err != nil {
		t.Fatal(err)
	}
	auths := app.ChildrenOf("APPAUTH")
	if len(auths) != 2 {
		t.Fatalf("%d APPAUTH entries, want 2 (P8)", len(auths))
	}
	levels := map[string]*provdoc.Node{}
	for _, a := range auths {
		levels[a.Value("AAUTHLEVEL")] = a
		if a.Value("AAUTHTYPE") != "DIGEST" {
			t.Errorf("APPAUTH %s type %q, want DIGEST", a.Value("AAUTHLEVEL"), a.Value("AAUTHTYPE"))
		}
		if n, err := base64.StdEncoding.DecodeString(a.Value("AAUTHDATA")); err != nil || len(n) != 16 {
			t.Errorf("APPAUTH %s nonce is not 16 bytes base64 (P14)", a.Value("AAUTHLEVEL"))
		}
	}
	client, srv := levels["CLIENT"], levels["APPSRV"]
	if client == nil || srv == nil {
		t.Fatalf("APPAUTH levels %v, want CLIENT and APPSRV", levels)
	}
	if client.Value("AAUTHSECRET") != dev.Digest.ClientSecret || srv.Value("AAUTHSECRET") != dev.Digest.ServerSecret ||
		srv.Value("AAUTHNAME") != dev.Digest.ServerName || client.Value("AAUTHDATA") != dev.Digest.ClientNonce ||
		srv.Value("AAUTHDATA") != dev.Digest.ServerNonce {
		t.Error("APPAUTH values differ from the stored digest secrets")
	}
	if dev.Digest.ClientSecret == dev.Digest.ServerSecret || len(dev.Digest.ClientSecret) < 32 {
		t.Error("digest secrets not random and distinct")
	}

	// P12: EntDMID and the poll schedule.
	prov := doc.Find("DMClient", "Provider", "caddy-mdm")
	if prov.Value("EntDMID") != deviceID {
		t.Errorf("EntDMID %q, want %q", prov.Value("EntDMID"), deviceID)
	}
	if prov.Child("Poll") == nil || prov.Child("Poll").Value("IntervalForFirstSetOfRetries") == "" {
		t.Error("DMClient Poll schedule missing")
	}
	if doc.Child("Registry") != nil || doc.Child("EnterpriseAppManagement") != nil {
		t.Error("Windows Phone 8 nodes in a Windows 10 document")
	}
	// Renewal is advertised (P12).
	renew := doc.Find("CertificateStore", "My", "WSTEP", "Renew")
	if renew.Value("ROBOSupport") != "true" || renew.Value("RenewPeriod") != "42" || renew.Value("RetryInterval") != "4" ||
		renew.Value("ServerURL") != testEndpoints.Discovery {
		t.Errorf("renewal settings %+v", renew)
	}

	// The stored record.
	if dev.User != user || dev.Certificate.Thumbprint != certNode.Type ||
		dev.Certificate.Serial != strings.ToUpper(cert.SerialNumber.Text(16)) ||
		dev.HWDevID == "" || dev.DeviceName != "DESKTOP-28FGAI6" || dev.OSVersion != "10.0.19043.2364" ||
		dev.EnrollmentType != "Full" || dev.State != "enrolled" || len(dev.MACs) != 6 {
		t.Errorf("stored record incomplete: %+v", dev.Redacted())
	}
	if issued.CSRDeviceID != deviceID || !strings.HasSuffix(issued.RequestSubjectCN, "\x00") {
		t.Errorf("CSR hints: device %q subject %q", issued.CSRDeviceID, issued.RequestSubjectCN)
	}
}

func decodeCert(t *testing.T, n *provdoc.Node) *x509.Certificate {
	t.Helper()
	v := n.Value("EncodedCertificate")
	if strings.ContainsAny(v, "\r\n ") {
		t.Error("EncodedCertificate has line breaks")
	}
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkThumbprint(t *testing.T, name string, c *x509.Certificate) {
	t.Helper()
	sum := sha1.Sum(c.Raw)
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); name != want {
		t.Errorf("characteristic %q, want upper-case SHA-1 %q", name, want)
	}
}

// checkPrintableSubject walks the raw subject and requires every value to be
// tagged PrintableString (19) and free of NUL (P6).
func checkPrintableSubject(t *testing.T, raw []byte) {
	t.Helper()
	var rdns []asn1.RawValue
	if _, err := asn1.Unmarshal(raw, &rdns); err != nil {
		t.Fatal(err)
	}
	for _, rdn := range rdns {
		var atvs []struct {
			Type  asn1.ObjectIdentifier
			Value asn1.RawValue
		}
		if _, err := asn1.UnmarshalWithParams(rdn.FullBytes, &atvs, "set"); err != nil {
			t.Fatal(err)
		}
		for _, atv := range atvs {
			if atv.Value.Tag != asn1.TagPrintableString {
				t.Errorf("subject value %s tagged %d, want PrintableString (P6)", atv.Type, atv.Value.Tag)
			}
			if bytes.IndexByte(atv.Value.Bytes, 0) >= 0 {
				t.Error("subject holds a NUL byte (P6)")
			}
		}
	}
}

func TestDeviceEnrollmentUsesSystemStore(t *testing.T) {
	s := newTestService(t, "ecdsa")
	req := bytes.Replace(capture.Read(t, "a-enroll-request.xml"),
		[]byte(`<ac:Value>Full</ac:Value>`), []byte(`<ac:Value>Device</ac:Value>`), 1)
	resp, _, err := s.enroll(t, req)
	if err != nil {
		t.Fatal(err)
	}
	_, doc := provisioningDocument(t, resp)
	if doc.Find("CertificateStore", "My", "System") == nil || doc.Find("CertificateStore", "My", "User") != nil {
		t.Error("device enrollment must use My/System")
	}
	if got := doc.Child("APPLICATION").Value("SSLCLIENTCERTSEARCHCRITERIA"); !strings.HasSuffix(got, "&Stores=My%5CSystem") {
		t.Errorf("search criteria %q, want My%%5CSystem", got)
	}
}

func TestWindowsPhone8Document(t *testing.T) {
	s := newTestService(t, "ecdsa")
	req := capture.Read(t, "a-enroll-request.xml")
	req = bytes.ReplaceAll(req, []byte("<ac:Value>CIMClient_Windows</ac:Value>"), []byte("<ac:Value>WindowsPhone</ac:Value>"))
	req = bytes.ReplaceAll(req, []byte("<ac:Value>10.0.19043.2364</ac:Value>"), []byte("<ac:Value>8.10.14219.341</ac:Value>"))

	resp, issued, err := s.enroll(t, req)
	if err != nil {
		t.Fatal(err)
	}
	if !issued.Device.WindowsPhone8 {
		t.Fatal("Windows Phone 8 not detected")
	}
	_, doc := provisioningDocument(t, resp)
	retry := doc.Find("Registry", `HKLM\Security\MachineEnrollment\OmaDmRetry`)
	if retry == nil {
		t.Fatal("no OmaDmRetry registry node")
	}
	if retry.Value("AuxNumRetries") == "0" || retry.Value("AuxRetryInterval") == "0" || retry.Value("AuxNumRetries") == "" {
		t.Errorf("OmaDmRetry Aux values must be > 0 (P9): %+v", retry.Parms)
	}
	if doc.Child("EnterpriseAppManagement") != nil {
		t.Error("EnterpriseAppManagement without an enterprise token (P10)")
	}
	if doc.Find("DMClient", "Provider", "caddy-mdm").Value("EntDMID") == "" {
		t.Error("EntDMID missing")
	}

	s.EnterpriseApp = &provdoc.EnterpriseApp{EnterpriseID: "4000000001", EnrollmentToken: "TOKEN", StoreURI: "https://hub/x.xap"}
	resp, issued, err = s.enroll(t, req)
	if err != nil {
		t.Fatal(err)
	}
	_, doc = provisioningDocument(t, resp)
	ea := doc.Find("EnterpriseAppManagement", "4000000001")
	if ea == nil || ea.Value("EnrollmentToken") != "TOKEN" || ea.Value("CRLCheck") != "0" {
		t.Fatalf("EnterpriseAppManagement node wrong: %+v", ea)
	}
	if got, want := ea.Value("CertificateSearchCriteria"), "Subject="+provdoc.PercentEncode("CN="+issued.Certificate.Subject.CommonName)+"&Stores=My%5CUser"; got != want {
		t.Errorf("CertificateSearchCriteria %q, want %q", got, want)
	}
}

// TestWindows10MobileIsNotWindowsPhone8: Windows 10 Mobile names itself
// WindowsPhone too (Microsoft's on-premise enrollment example sends
// DeviceType WindowsPhone with ApplicationVersion 10.0.0.0); its version
// decides: it gets the Windows 10 document.
func TestWindows10MobileIsNotWindowsPhone8(t *testing.T) {
	s := newTestService(t, "ecdsa")
	req := capture.Read(t, "a-enroll-request.xml")
	req = bytes.ReplaceAll(req, []byte("<ac:Value>CIMClient_Windows</ac:Value>"), []byte("<ac:Value>WindowsPhone</ac:Value>"))
	req = bytes.ReplaceAll(req, []byte("<ac:Value>10.0.19043.2364</ac:Value>"), []byte("<ac:Value>10.0.0.0</ac:Value>"))
	resp, issued, err := s.enroll(t, req)
	if err != nil {
		t.Fatal(err)
	}
	if issued.Device.WindowsPhone8 {
		t.Error("Windows 10 Mobile taken for Windows Phone 8")
	}
	_, doc := provisioningDocument(t, resp)
	if doc.Find("Registry", `HKLM\Security\MachineEnrollment\OmaDmRetry`) != nil {
		t.Error("Windows 10 document carries the Windows Phone 8 retry registry node")
	}
	if doc.Find("DMClient", "Provider", "caddy-mdm", "Poll") == nil {
		t.Error("Windows 10 document without its DMClient Poll schedule")
	}
}

func TestFaultsStoreNothing(t *testing.T) {
	small := testpki.NewCSR(t, testpki.NewKey(t, "rsa1024"), "x")
	tampered := append([]byte(nil), capture.CSR(t, "a-enroll-request.xml")...)
	tampered[120] ^= 1
	a := string(capture.Read(t, "a-enroll-request.xml"))
	for name, tc := range map[string]struct {
		req  string
		code soap.FaultCode
	}{
		"wrong password":    {strings.Replace(a, ">demo</wsse:Password>", ">wrong</wsse:Password>", 1), soap.Authentication},
		"unknown user":      {strings.Replace(a, ">demo@mdmwindows.com<", ">nobody@mdmwindows.com<", 1), soap.Authentication},
		"no credentials":    {regexpCut(a, "<wsse:Security", "</wsse:Security>"), soap.Authentication},
		"bad signature":     {string(replaceCSR(t, []byte(a), tampered)), soap.CertificateRequest},
		"small key":         {string(replaceCSR(t, []byte(a), small)), soap.CertificateRequest},
		"CSR not base64":    {string(replaceCSR(t, []byte(a), []byte("x"))), soap.CertificateRequest},
		"CSR not PKCS#10":   {string(replaceCSR(t, []byte(a), []byte("not DER at all"))), soap.CertificateRequest},
		"unknown action":    {strings.Replace(a, "enrollment/RST/wstep", "enrollment/RST/other", 1), soap.MessageFormat},
		"no device ID":      {strings.Replace(a, `Name="DeviceID"`, `Name="Other"`, 1), soap.MessageFormat},
		"bad device ID":     {strings.Replace(a, "1E08C6E95D8BB843B1278FF45BC60CC6</ac:Value>", "../../etc/passwd</ac:Value>", 1), soap.MessageFormat},
		"bad request type":  {strings.Replace(a, "200512/Issue", "200512/Validate", 1), soap.MessageFormat},
		"renew with PKCS10": {strings.Replace(a, "200512/Issue", "200512/Renew", 1), soap.CertificateRequest},
		"recovery":          {strings.Replace(a, "200512/Issue", "200512/Recovery", 1), soap.NotEligibleToRenew},
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestService(t, "ecdsa")
			_, _, err := s.enroll(t, []byte(tc.req))
			var f *soap.Fault
			if !errors.As(err, &f) {
				t.Fatalf("got %v, want a fault", err)
			}
			if f.Code != tc.code {
				t.Errorf("fault %s, want %s", f.Code.Type, tc.code.Type)
			}
			if strings.Contains(f.Message, "demo") && tc.code == soap.Authentication {
				t.Error("fault message echoes credentials")
			}
			if n := s.deviceCount(t); n != 0 {
				t.Errorf("%d devices stored after a refused request", n)
			}
		})
	}
}

func regexpCut(s, from, to string) string {
	i, j := strings.Index(s, from), strings.Index(s, to)
	return s[:i] + s[j+len(to):]
}

func TestECDSAKeyCSR(t *testing.T) {
	s := newTestService(t, "rsa")
	key := testpki.NewKey(t, "ecdsa")
	csr := testpki.NewCSR(t, key, "anything")
	resp, issued, err := s.enroll(t, replaceCSR(t, capture.Read(t, "a-enroll-request.xml"), csr))
	if err != nil {
		t.Fatal(err)
	}
	_, doc := provisioningDocument(t, resp)
	if doc == nil || issued.Certificate.KeyUsage&x509.KeyUsageKeyEncipherment != 0 {
		t.Error("ECDSA device certificate must not claim key encipherment")
	}
	pub, _ := x509.MarshalPKIXPublicKey(key.Public())
	if !bytes.Equal(issued.Certificate.RawSubjectPublicKeyInfo, pub) {
		t.Error("ECDSA key not kept")
	}
}
