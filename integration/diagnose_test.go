package integration

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/diagnose"
)

// diagnoseCmd runs `caddy mdm diagnose contoso.com` dialing addr.
func diagnoseCmd(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	base := []string{"mdm", "diagnose", "contoso.com", "--connect", addr, "--timeout", "5s"}
	out, err := exec.Command(caddyBin, append(base, args...)...).CombinedOutput()
	return string(out), err
}

// TestDiagnoseQuickstart checks the quickstart through a real Caddy: every
// check passes with its TLS root (--root), the JSON says the same, and
// without the root the chain check fails with the fix.
func TestDiagnoseQuickstart(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	addr := "127.0.0.1:" + itoa(s.httpsPort)
	out, err := diagnoseCmd(t, addr, "--root", s.rootFile)
	if err != nil || strings.Contains(out, "FAIL") || strings.Contains(out, "WARN") {
		t.Fatalf("quickstart diagnosis: %v\n%s", err, out)
	}
	for _, check := range []string{"connect", "tls", "tls-name", "tls-chain", "tls-expiry", "tls-1.2", "tls-resumption", "discovery-get", "discovery-post", "clock", "policy-url", "enrollment-url", "management-url", "client-auth"} {
		if !strings.Contains(out, "PASS  "+check+" ") {
			t.Errorf("no PASS line for %s", check)
		}
	}
	if !strings.Contains(out, "names enterpriseenrollment.contoso.com exactly") || !strings.Contains(out, "AuthPolicy OnPremise, EnrollmentVersion 4.0") ||
		!strings.Contains(out, "https://enterpriseenrollment.contoso.com/EnrollmentServer/Enrollment.svc is HTTPS") {
		t.Errorf("details:\n%s", out)
	}
	// The server logged the diagnosis' Discover as a real one.
	if !s.logs.waitFor(`"email":"diagnose@contoso.com"`) {
		t.Error("the discovery POST did not reach the server as a Discover")
	}

	raw, err := diagnoseCmd(t, addr, "--root", s.rootFile, "--json")
	if err != nil {
		t.Fatalf("--json: %v\n%s", err, raw)
	}
	var r diagnose.Report
	if err := json.Unmarshal([]byte(raw), &r); err != nil || r.Host != EnrollmentHost || r.Failed() || r.Find("tls-name").Status != diagnose.Pass {
		t.Errorf("JSON report: %v\n%s", err, raw)
	}

	out, err = diagnoseCmd(t, addr)
	if err == nil || !strings.Contains(out, "FAIL  tls-chain") || !strings.Contains(out, "certutil -addstore Root") {
		t.Errorf("without --root: %v\n%s", err, out)
	}
}

// TestDiagnoseWildcardSite serves the quickstart under a wildcard site
// name, whose certificate names *.contoso.com: P1 fails.
func TestDiagnoseWildcardSite(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "caddyfile-examples", "quickstart.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "\nenterpriseenrollment.contoso.com {", "\n*.contoso.com {", 1)
	if cfg == string(b) {
		t.Fatal("no site line in the quickstart")
	}
	file := filepath.Join(t.TempDir(), "wildcard.Caddyfile")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startCaddyFile(t, file)
	out, err := diagnoseCmd(t, "127.0.0.1:"+itoa(s.httpsPort), "--root", s.rootFile)
	if err == nil || !strings.Contains(out, "FAIL  tls-name") || !strings.Contains(out, "only by a wildcard (*.contoso.com)") || !strings.Contains(out, "(P1)") {
		t.Errorf("wildcard site: %v\n%s", err, out)
	}
	if !strings.Contains(out, "PASS  tls-chain") {
		t.Errorf("the chain is fine, only the name is not:\n%s", out)
	}
}

// TestDiagnoseNoAnswer points the diagnosis at a port nothing listens on.
func TestDiagnoseNoAnswer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	out, err := diagnoseCmd(t, addr)
	if err == nil || !strings.Contains(out, "FAIL  connect") || !strings.Contains(out, "nothing answers at "+addr) || !strings.Contains(out, "fix: start the server") {
		t.Errorf("no answer: %v\n%s", err, out)
	}
}
