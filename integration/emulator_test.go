package integration

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// emulate runs `caddy mdm emulate` against the server, as an admin would.
func (s *server) emulate(args ...string) (string, error) {
	base := []string{"mdm", "emulate",
		"--server", "https://" + EnrollmentHost,
		"--connect-to", "127.0.0.1:" + itoa(s.httpsPort),
		"--root", s.rootFile,
		"--user", quickstartUser, "--password", quickstartPassword,
	}
	out, err := exec.Command(caddyBin, append(base, args...)...).CombinedOutput()
	return string(out), err
}

func itoa(n int) string { return strconv.Itoa(n) }

var deviceLine = regexp.MustCompile(`(?m)^device ([0-9A-F]{32})$`)

func mustPass(t *testing.T, what, out string, err error) string {
	t.Helper()
	if err != nil || !strings.Contains(out, " 0 failed") || strings.Contains(out, "FAIL ") {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	m := deviceLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s: no device line\n%s", what, out)
	}
	return m[1]
}

// TestEmulatorLifecycle drives the quickstart through a device's life with
// the emulator: enrollment with every check, sessions (certificate and
// digest, the server challenged for its credentials), admin commands
// delivered and answered, admin unenrollment, and user unenrollment.
func TestEmulatorLifecycle(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	state := t.TempDir()
	out, err := s.emulate("--state", state, "--challenge-server")
	id := mustPass(t, "enrollment and first session", out, err)
	for _, check := range []string{"PASS  P4 ", "PASS  P5 ", "PASS  P6 subject is PrintableString", "PASS  P7 ", "PASS  P8 ", "PASS  P12 ", "PASS  P13 server Cred", "PASS  P15 reply MsgID", "PASS  P2 hashAlgorithmOIDReference", "PASS  P1 TLS certificate names"} {
		if !strings.Contains(out, check) {
			t.Errorf("no %q line", check)
		}
	}

	if out, err := s.cli("send", id, "--get", "./DevDetail/SwV"); err != nil {
		t.Fatalf("send: %v %s", err, out)
	}
	if out, err := s.cli("send", id, "--replace", "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera=0", "--add", "./Device/Vendor/MSFT/X=1", "--atomic"); err != nil {
		t.Fatalf("send atomic: %v %s", err, out)
	}
	out, err = s.emulate("--state", state, "--auth", "digest")
	mustPass(t, "digest session delivering commands", out, err)
	if !strings.Contains(out, "PASS  P15 digest credentials acknowledged with 212") || !strings.Contains(out, "executed: Get ./DevDetail/SwV, Replace ./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera, Add ./Device/Vendor/MSFT/X") {
		t.Errorf("digest session:\n%s", out)
	}
	cmds, err := s.cli("commands", id)
	if err != nil || strings.Count(cmds, "acknowledged") != 2 || !strings.Contains(cmds, "= 10.0.19043.2364") {
		t.Errorf("commands after the session: %v\n%s", err, cmds)
	}

	// Admin unenrollment, delivered in the next session.
	if out, err := s.cli("unenroll", id); err != nil {
		t.Fatalf("unenroll: %v %s", err, out)
	}
	out, err = s.emulate("--state", state)
	mustPass(t, "session delivering Unenroll", out, err)
	if !strings.Contains(out, "server unenrolled the device") {
		t.Errorf("Unenroll not delivered:\n%s", out)
	}
	if show, _ := s.cli("show", id); !strings.Contains(show, "retired") {
		t.Errorf("device after admin unenrollment:\n%s", show)
	}

	// A second device enrolls and its user disconnects it.
	out, err = s.emulate("--sessions", "2", "--unenroll")
	id2 := mustPass(t, "user unenrollment", out, err)
	if show, _ := s.cli("show", id2); !strings.Contains(show, "unenrolled") {
		t.Errorf("device after the unenrollment alert:\n%s", show)
	}

	// Failures are reported as FAIL lines and a non-zero exit.
	raw, err := exec.Command(caddyBin, "mdm", "emulate", "--server", "https://"+EnrollmentHost,
		"--connect-to", "127.0.0.1:"+itoa(s.httpsPort), "--root", filepath.Join(s.dataDir(), "pki", "authorities", "local", "root.crt"),
		"--user", quickstartUser, "--password", "wrong").CombinedOutput()
	if err == nil || !strings.Contains(string(raw), "FAIL  policy succeeds: fault s:Authentication") {
		t.Errorf("wrong password: %v\n%s", err, raw)
	}
}

// TestEmulatorWindowsPhone8 enrolls a phone against the phone example.
func TestEmulatorWindowsPhone8(t *testing.T) {
	s, _ := startPhoneServer(t)
	out, err := s.emulate("--wp8", "--sessions", "2")
	mustPass(t, "Windows Phone 8 enrollment", out, err)
	for _, check := range []string{"PASS  P9 OmaDmRetry", "PASS  P10 EnterpriseAppManagement", "PASS  P11 hub CertificateSearchCriteria"} {
		if !strings.Contains(out, check) {
			t.Errorf("no %q line\n%s", check, out)
		}
	}
}

// TestEmulatorLoad runs the load mode briefly: every enrollment and session
// must succeed.
func TestEmulatorLoad(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	out, err := s.emulate("--load", "--devices", "6", "--sessions-per-device", "3", "--workers", "3", "--key-pool", "2")
	if err != nil || !regexp.MustCompile(`enrollments\s+6\s+0 `).MatchString(out) || !regexp.MustCompile(`sessions\s+18\s+0 `).MatchString(out) {
		t.Fatalf("load: %v\n%s", err, out)
	}
}

// TestEmulatorRenewal renews as the CertificateStore CSP describes a
// renewal: Discover at the document's renewal ServerURL, GetPolicies with
// only the device certificate, then RequestSecurityToken Renew (ROBO) at
// the enrollment URL discovery named; then a session with the new
// certificate.
func TestEmulatorRenewal(t *testing.T) {
	s := startCaddyFile(t, "testdata/renewal-window-open.Caddyfile")
	state := t.TempDir()
	out, err := s.emulate("--state", state)
	mustPass(t, "enrollment", out, err)
	time.Sleep(1100 * time.Millisecond) // the renewal window opens a second after issuance
	out, err = s.emulate("--state", state, "--renew")
	mustPass(t, "renewal", out, err)
	for _, check := range []string{
		"PASS  renewal discovery at the document's ServerURL answer action",
		"PASS  renewal policy with the device certificate only answer action",
		"PASS  P4 renewed certificate carries the new key",
	} {
		if !strings.Contains(out, check) {
			t.Errorf("no %q line:\n%s", check, out)
		}
	}
}
