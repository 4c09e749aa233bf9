package enroll

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// TestGoldenDiscoverHeader pins the Discover answer's header to the form
// every known Discover answer has (Microsoft's three examples, the answers
// a real Windows 10 PC enrolled with): Action, ActivityId with its
// CorrelationId in the ServiceModel diagnostics namespace, RelatesTo; and
// EnrollmentVersion 4.0 for the capture's request. See
// integration/device-evidence.md.
func TestGoldenDiscoverHeader(t *testing.T) {
	s := newTestService(t, "ecdsa")
	env := parseEnvelope(t, capture.Read(t, "a-discovery-request.xml"))
	env.ActivityID = "8f1d1b8c-3b54-4b4e-9a1c-1f6b1d0a2c3e"
	resp, _, err := s.Discover(env, testEndpoints)
	if err != nil {
		t.Fatal(err)
	}
	header := regexp.MustCompile(`^<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">` +
		`<s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/DiscoverResponse</a:Action>` +
		`<ActivityId CorrelationId="8f1d1b8c-3b54-4b4e-9a1c-1f6b1d0a2c3e" xmlns="http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics">8f1d1b8c-3b54-4b4e-9a1c-1f6b1d0a2c3e</ActivityId>` +
		`<a:RelatesTo>urn:uuid:748132ec-a575-4329-b01b-6171a9cf8478</a:RelatesTo></s:Header>`)
	if !header.Match(resp) {
		t.Errorf("Discover answer header:\n%s", resp)
	}
	if !regexp.MustCompile(`<EnrollmentVersion>4.0</EnrollmentVersion>`).Match(resp) {
		t.Errorf("EnrollmentVersion for the capture's 4.0 request:\n%s", resp)
	}
}

// TestGoldenDeviceContextStore pins the search criteria of a device-context
// enrollment (EnrollmentType Device): the certificate goes to My/System and
// SSLCLIENTCERTSEARCHCRITERIA names that store, Stores=My%5CSystem, as the
// registry of real Intune-enrolled PCs shows (MY%5CSystem; store names
// compare without case). Microsoft's examples write My%5CUser even there;
// the evidence and the decision are in integration/device-evidence.md.
func TestGoldenDeviceContextStore(t *testing.T) {
	s := newTestService(t, "rsa")
	req := bytes.Replace(capture.Read(t, "a-enroll-request.xml"),
		[]byte(`Name="EnrollmentType"><ac:Value>Full<`), []byte(`Name="EnrollmentType"><ac:Value>Device<`), 1)
	resp, _, err := s.enroll(t, req)
	if err != nil {
		t.Fatal(err)
	}
	_, doc := provisioningDocument(t, resp)
	if doc.Find("CertificateStore", "My", "System") == nil || doc.Find("CertificateStore", "My", "User") != nil {
		t.Error("a device-context certificate is not in My/System alone")
	}
	want := "Subject=CN%3D1E08C6E95D8BB843B1278FF45BC60CC6&Stores=My%5CSystem"
	if got := doc.Child("APPLICATION").Value("SSLCLIENTCERTSEARCHCRITERIA"); got != want {
		t.Errorf("SSLCLIENTCERTSEARCHCRITERIA %q, want %q", got, want)
	}
}
