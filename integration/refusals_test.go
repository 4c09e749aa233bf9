package integration

import (
	"bytes"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
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
		{"unknown action", "/EnrollmentServer/Discovery.svc", bytes.Replace(good, []byte(soap.ActionRequestToken), []byte("urn:caddy-mdm:no-such-action"), 1), 500, "s:MessageFormat"},
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
			// Microsoft's fault example: the operation's own response Action
			// and an ActivityId, which is the TraceId.
			if want := faultAction(tc.path, tc.body); env.Action != want {
				t.Errorf("fault Action %q, want %q", env.Action, want)
			}
			if !bytes.Contains(r.body, []byte(`<ActivityId CorrelationId="`+trace+`" xmlns="`+soap.NSDiagnostics+`">`+trace+`</ActivityId>`)) {
				t.Errorf("fault header lacks the ActivityId %s: %s", trace, r.body)
			}
		})
	}
	r := s.do(s.client, http.MethodGet, "/EnrollmentServer/Enrollment.svc", "", nil)
	if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET enrollment: %d Allow %q", r.StatusCode, r.Header.Get("Allow"))
	}
	// A path under the MDM's trees that no service serves: 404 and a log
	// line, not Caddy's empty 200.
	for _, path := range []string{"/EnrollmentServer/Discovery.svc/", "/EnrollmentServer/Enrollment.svc/x", "/ManagementServer/MDM.svc2"} {
		r := s.postSOAP(path, good)
		if r.StatusCode != http.StatusNotFound || !bytes.Contains(r.body, []byte("/EnrollmentServer/Enrollment.svc")) {
			t.Errorf("POST %s: %d %q", path, r.StatusCode, r.body)
		}
	}
	if !s.logs.waitFor(`"request for an MDM path no service serves"`) {
		t.Error("the unknown path is not logged")
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

	// A stranger's management message with a 300 KB SessionID and credential
	// type: refused, and logged in a line of bounded size.
	hostile := []byte(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>` +
		strings.Repeat("7", 300<<10) + `</SessionID><MsgID>1</MsgID><Target><LocURI>https://x/</LocURI></Target>` +
		`<Source><LocURI>0123456789ABCDEF0123456789ABCDEF</LocURI></Source><Cred><Meta><Type xmlns="syncml:metinf">` +
		strings.Repeat("T", 300<<10) + `</Type></Meta><Data>x</Data></Cred></SyncHdr><SyncBody><Final/></SyncBody></SyncML>`)
	r = s.do(s.client, http.MethodPost, "/ManagementServer/MDM.svc", "application/vnd.syncml.dm+xml", hostile)
	if r.StatusCode != http.StatusOK || !bytes.Contains(r.body, []byte("<Data>403</Data>")) {
		t.Errorf("stranger's message: %d %.300s", r.StatusCode, r.body)
	}
	if !s.logs.waitFor(`"management message refused"`) {
		t.Fatal("the refusal is not logged")
	}
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if len(line) > 8<<10 {
			t.Errorf("a log line of %d bytes: %.200s", len(line), line)
		}
	}
}

// TestUnknownPathLeavesSiteHandlers: the 404 for an MDM path nothing
// serves comes only after the site's own handlers had their turn: a
// respond the admin put under /EnrollmentServer/ still answers.
func TestUnknownPathLeavesSiteHandlers(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "caddyfile-examples", "quickstart.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "\tmdm\n}", "\tmdm\n\trespond /EnrollmentServer/healthz \"ok\" 200\n}", 1)
	if cfg == string(b) {
		t.Fatal("the quickstart's site no longer ends with mdm")
	}
	file := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startCaddyFile(t, file)
	if r := s.do(s.client, http.MethodGet, "/EnrollmentServer/healthz", "", nil); r.StatusCode != http.StatusOK || string(r.body) != "ok" {
		t.Errorf("the site's own respond: %d %q", r.StatusCode, r.body)
	}
	if r := s.do(s.client, http.MethodGet, "/EnrollmentServer/nothing-here", "", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("a path nothing serves: %d %q", r.StatusCode, r.body)
	}
	if r := s.do(s.client, http.MethodGet, "/EnrollmentServer/Discovery.svc", "", nil); r.StatusCode != http.StatusOK {
		t.Errorf("discovery GET: %d", r.StatusCode)
	}
}

// faultAction is the Action a fault must carry: the response Action of the
// operation the request asked for, or of the endpoint's when it named none
// that exists.
func faultAction(path string, body []byte) string {
	for _, a := range []string{soap.ActionDiscover, soap.ActionGetPolicies, soap.ActionRequestToken} {
		if bytes.Contains(body, []byte(">"+a+"<")) {
			return soap.ResponseAction(a)
		}
	}
	switch {
	case strings.HasSuffix(path, "Discovery.svc"):
		return soap.ActionDiscoverResponse
	case strings.HasSuffix(path, "Policy.svc"):
		return soap.ActionGetPoliciesResponse
	}
	return soap.ActionRequestTokenResp
}

// TestEveryEndpointAnswersEveryMessage: a renewing device starts with
// Discovery at its document's ServerURL, and readings of MS-MDE2 differ on
// which endpoint that is; each enrollment endpoint answers each enrollment
// message by its Action, so no reading strands a device.
func TestEveryEndpointAnswersEveryMessage(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	messages := map[string][]byte{
		soap.ActionDiscoverResponse:    capture.Read(t, "a-discovery-request.xml"),
		soap.ActionGetPoliciesResponse: asQuickstartUser(t, "a-policy-request.xml"),
	}
	for _, path := range []string{"/EnrollmentServer/Discovery.svc", "/EnrollmentServer/Policy.svc", "/EnrollmentServer/Enrollment.svc"} {
		for want, body := range messages {
			r := s.postSOAP(path, body)
			env, err := soap.Parse(r.body)
			if r.StatusCode != http.StatusOK || err != nil || env.Action != want {
				t.Errorf("%s answered %s with %d %v", path, want, r.StatusCode, err)
			}
		}
	}
	r := s.postSOAP("/EnrollmentServer/Discovery.svc", asQuickstartUser(t, "a-enroll-request.xml"))
	if env, err := soap.Parse(r.body); r.StatusCode != http.StatusOK || err != nil || env.Action != soap.ActionRequestTokenResp {
		t.Errorf("an enrollment posted to Discovery.svc: %d %s", r.StatusCode, clipped(r.body))
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
