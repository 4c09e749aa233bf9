package integration

import (
	"bytes"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

func thumbprint(c *x509.Certificate) string { return issuer.Thumbprint(c) }

// TestQuickstartRefusals sends what a broken or hostile client sends and
// checks each answer: the MS-MDE2 fault, a log line with the reason, nothing
// stored, no secret in the logs.
func TestQuickstartRefusals(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	good := asQuickstartUser(t, "a-enroll-request.xml")
	wrongPassword := bytes.Replace(good, []byte(quickstartPassword+"<"), []byte("not-the-password<"), 1)
	tamperedCSR := bytes.Replace(good, []byte("MIICzjCCAboCAQAwSzFJMEcGA1UEAxNAQkE0"), []byte("MIICzjCCAboCAQAwSzFJMEcGA1UEAxNAQkE1"), 1)
	if bytes.Equal(tamperedCSR, good) {
		t.Fatal("CSR not tampered")
	}
	huge := append(bytes.Repeat([]byte(" "), 2<<20), good...)

	for _, tc := range []struct {
		name, path string
		body       []byte
		status     int
		subcode    string
	}{
		{"wrong password", "/EnrollmentServer/Enrollment.svc", wrongPassword, 500, "s:Authentication"},
		{"wrong password on policy", "/EnrollmentServer/Policy.svc", bytes.Replace(asQuickstartUser(t, "a-policy-request.xml"), []byte(quickstartPassword+"<"), []byte("x<"), 1), 500, "s:Authentication"},
		{"tampered CSR", "/EnrollmentServer/Enrollment.svc", tamperedCSR, 500, "s:CertificateRequest"},
		{"malformed XML", "/EnrollmentServer/Enrollment.svc", good[:len(good)/2], 500, "s:MessageFormat"},
		{"body over the limit", "/EnrollmentServer/Enrollment.svc", huge, 413, "s:MessageFormat"},
		{"policy request to enrollment", "/EnrollmentServer/Enrollment.svc", asQuickstartUser(t, "a-policy-request.xml"), 500, "s:MessageFormat"},
		{"enroll request to discovery", "/EnrollmentServer/Discovery.svc", good, 500, "s:MessageFormat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.postSOAP(tc.path, tc.body)
			if r.StatusCode != tc.status {
				t.Errorf("status %d, want %d", r.StatusCode, tc.status)
			}
			checkSOAPFraming(t, r)
			env, err := soap.Parse(r.body)
			if err != nil {
				t.Fatalf("fault is not SOAP: %v\n%s", err, r.body)
			}
			if got := soap.Text(soap.Path(env.Body, "Code", "Subcode", "Value")); got != tc.subcode {
				t.Errorf("subcode %q, want %q", got, tc.subcode)
			}
			trace := soap.Text(soap.Path(env.Body, "Detail", "DeviceEnrollmentServiceError", "TraceId"))
			if trace == "" || !s.logs.waitFor(`"trace_id":"`+trace+`"`) {
				t.Errorf("fault trace %q not found in the logs", trace)
			}
		})
	}
	r := s.do(s.client, http.MethodGet, "/EnrollmentServer/Enrollment.svc", "", nil)
	if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET enrollment: %d Allow %q", r.StatusCode, r.Header.Get("Allow"))
	}

	if entries, err := os.ReadDir(filepath.Join(s.dataDir(), "mdm", "devices")); err == nil && len(entries) > 0 {
		t.Errorf("%d device records after refused requests", len(entries))
	}
	s.logs.waitFor(`"fault":"Authentication"`)
	logs := s.logs.String()
	if strings.Contains(logs, quickstartPassword) || strings.Contains(logs, "not-the-password") {
		t.Error("a password reached the logs")
	}
	if !strings.Contains(logs, `"fault":"Authentication"`) || !strings.Contains(logs, `"user":"demo@contoso.com"`) {
		t.Error("authentication refusal not logged with its user")
	}
}

// TestDeviceCASurvivesRestart: the device CA is created once and reused, or
// every enrolled device would stop being trusted after a restart.
func TestDeviceCASurvivesRestart(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	rootFile := filepath.Join(s.dataDir(), "pki", "authorities", "mdm", "root.crt")
	first := readPEMCert(t, rootFile)
	s.stop()
	s.start()
	r := s.postSOAP("/EnrollmentServer/Enrollment.svc", asQuickstartUser(t, "b-enroll-request.xml"))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("enroll after restart: %d %s", r.StatusCode, r.body)
	}
	doc, _ := enrollmentResult(t, r.body)
	if got := doc.Find("CertificateStore", "Root", "System").Children[0].Type; got != thumbprint(first) {
		t.Errorf("root after restart %s, want %s", got, thumbprint(first))
	}
}
