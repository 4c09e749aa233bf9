package integration

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// The quickstart's account (README).
const (
	quickstartUser     = "demo@contoso.com"
	quickstartPassword = "demo-password"
)

// asQuickstartUser rewrites the captured credentials to the quickstart's
// account; everything else (CSR, context, namespaces) stays as captured.
func asQuickstartUser(t *testing.T, file string) []byte {
	t.Helper()
	b := capture.Read(t, file)
	b = regexp.MustCompile(`<wsse:Username>[^<]*</wsse:Username>`).ReplaceAll(b, []byte("<wsse:Username>"+quickstartUser+"</wsse:Username>"))
	b = regexp.MustCompile(`(#PasswordText">)[^<]*(</wsse:Password>)`).ReplaceAll(b, []byte("${1}"+quickstartPassword+"${2}"))
	return b
}

var bstRe = regexp.MustCompile(`<BinarySecurityToken[^>]*>([^<]*)</BinarySecurityToken>`)

func TestQuickstartEnrollsRealDevices(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")

	// P1: the site certificate names the enrollment host exactly.
	resp := s.do(s.client, http.MethodGet, "/EnrollmentServer/Discovery.svc", "", nil)
	leaf := resp.TLS.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != EnrollmentHost {
		t.Errorf("site certificate names %v, want exactly %s", leaf.DNSNames, EnrollmentHost)
	}
	if resp.StatusCode != http.StatusOK || len(resp.body) != 0 || resp.ContentLength != 0 {
		t.Errorf("GET discovery: %d, %d bytes, Content-Length %d", resp.StatusCode, len(resp.body), resp.ContentLength)
	}

	// Discovery as device A sent it.
	disc := s.postSOAP("/EnrollmentServer/Discovery.svc", capture.Read(t, "a-discovery-request.xml"))
	if disc.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %d %s", disc.StatusCode, disc.body)
	}
	checkSOAPFraming(t, disc)
	env, err := soap.Parse(disc.body)
	if err != nil {
		t.Fatal(err)
	}
	result := soap.Child(env.Body, "DiscoverResult")
	policyURL := soap.Text(soap.Child(result, "EnrollmentPolicyServiceUrl"))
	enrollURL := soap.Text(soap.Child(result, "EnrollmentServiceUrl"))
	if policyURL != s.url("/EnrollmentServer/Policy.svc") || enrollURL != s.url("/EnrollmentServer/Enrollment.svc") {
		t.Errorf("discovery URLs %q %q", policyURL, enrollURL)
	}
	if soap.Text(soap.Child(result, "AuthPolicy")) != "OnPremise" || soap.Text(soap.Child(result, "EnrollmentVersion")) != "4.0" {
		t.Errorf("discovery result: %s", disc.body)
	}

	// GetPolicies, over HTTP/1.1 this time.
	pol := s.do(s.client11, http.MethodPost, "/EnrollmentServer/Policy.svc", "application/soap+xml; charset=utf-8", asQuickstartUser(t, "a-policy-request.xml"))
	if pol.StatusCode != http.StatusOK || pol.ProtoMajor != 1 {
		t.Fatalf("policy: %d %s %s", pol.StatusCode, pol.Proto, pol.body)
	}
	checkSOAPFraming(t, pol)
	if !bytes.Contains(pol.body, []byte("<minimalKeyLength>2048</minimalKeyLength>")) {
		t.Errorf("policy lacks minimalKeyLength: %s", pol.body)
	}

	deviceCARoot := readPEMCert(t, filepath.Join(s.dataDir(), "pki", "authorities", "mdm", "root.crt"))
	for file, deviceID := range map[string]string{
		"a-enroll-request.xml": "1E08C6E95D8BB843B1278FF45BC60CC6",
		"b-enroll-request.xml": "B5B954E81FBCB94EB79BD08BE625F4EE",
	} {
		t.Run(file, func(t *testing.T) {
			r := s.postSOAP("/EnrollmentServer/Enrollment.svc", asQuickstartUser(t, file))
			if r.StatusCode != http.StatusOK {
				t.Fatalf("enroll: %d %s", r.StatusCode, r.body)
			}
			checkSOAPFraming(t, r)
			doc, cert := enrollmentResult(t, r.body)

			root := doc.Find("CertificateStore", "Root", "System").Children[0]
			if root.Type != thumbprint(deviceCARoot) {
				t.Error("document root is not the mdm device CA root from storage")
			}
			csr, err := pkcs10.Parse(capture.CSR(t, file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(cert.RawSubjectPublicKeyInfo, csr.RawSubjectPublicKeyInfo) {
				t.Error("certificate key is not the CSR key (P4)")
			}
			pool := x509.NewCertPool()
			pool.AddCert(deviceCARoot)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("device certificate does not chain to the device CA: %v", err)
			}
			app := doc.Child("APPLICATION")
			if app.Value("ADDR") != s.url("/ManagementServer/MDM.svc") {
				t.Errorf("ADDR %q", app.Value("ADDR"))
			}
			if app.Value("SSLCLIENTCERTSEARCHCRITERIA") != "Subject=CN%3D"+deviceID+"&Stores=My%5CUser" || cert.Subject.CommonName != deviceID {
				t.Errorf("search criteria %q for subject %q", app.Value("SSLCLIENTCERTSEARCHCRITERIA"), cert.Subject)
			}
			if doc.Find("DMClient", "Provider", "caddy-mdm").Value("EntDMID") != deviceID {
				t.Error("EntDMID not set")
			}

			// The record is in Caddy's file storage.
			if user, state, thumb := storedDevice(t, s, deviceID); user != quickstartUser || state != "enrolled" || thumb != thumbprint(cert) {
				t.Errorf("stored record: user %q, state %q, thumbprint %s", user, state, thumb)
			}
			// P16 without leaking: the exchange is logged, its secrets are not.
			if !s.logs.waitFor(`"device_id":"` + deviceID + `"`) {
				t.Error("enrollment not logged with its device ID")
			}
			secret := app.ChildrenOf("APPAUTH")[0].Value("AAUTHSECRET")
			if logs := s.logs.String(); strings.Contains(logs, secret) || strings.Contains(logs, quickstartPassword) {
				t.Error("logs hold a secret")
			}
		})
	}
}

// enrollmentResult decodes the provisioning document and client certificate
// of a WSTEP response.
func enrollmentResult(t *testing.T, body []byte) (*provdoc.Node, *x509.Certificate) {
	t.Helper()
	m := bstRe.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no BinarySecurityToken in %s", body)
	}
	raw, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := provdoc.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range doc.Find("CertificateStore", "My", "User").Children {
		if n.Type == "PrivateKeyContainer" {
			continue
		}
		der, err := base64.StdEncoding.DecodeString(n.Value("EncodedCertificate"))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return doc, cert
	}
	t.Fatal("no client certificate in My/User")
	return nil, nil
}

func readPEMCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM", file)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
