package integration

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// quickstartVariant writes the quickstart with debug logs (password checks
// are logged at debug level) and, if hash is set, the demo user's password
// hash replaced.
func quickstartVariant(t *testing.T, hash string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "caddyfile-examples", "quickstart.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "\thttps_port {$HTTPS_PORT:443}\n", "\tdebug\n\thttps_port {$HTTPS_PORT:443}\n", 1)
	if hash != "" {
		re := regexp.MustCompile(`(?m)^(\t+user ` + regexp.QuoteMeta(quickstartUser) + `) \S+$`)
		if !re.MatchString(cfg) {
			t.Fatal("no user line in the quickstart")
		}
		cfg = re.ReplaceAllLiteralString(cfg, "\t\t\tuser "+quickstartUser+" "+hash)
	}
	if cfg == string(b) || !strings.Contains(cfg, "\tdebug\n") {
		t.Fatal("cannot rewrite the quickstart")
	}
	f := filepath.Join(t.TempDir(), "quickstart.Caddyfile")
	if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// enrollCountingChecks runs GetPolicies and then the enrollment of device A
// with the quickstart user's credentials, and checks that the first
// computed the password hash and the second was answered from the cache.
func enrollCountingChecks(t *testing.T, s *server) {
	t.Helper()
	pol := s.postSOAP("/EnrollmentServer/Policy.svc", asQuickstartUser(t, "a-policy-request.xml"))
	if pol.StatusCode != http.StatusOK {
		t.Fatalf("policy: %d %s", pol.StatusCode, pol.body)
	}
	if !s.logs.waitFor(`"password_check":"hashed"`) {
		t.Fatalf("GetPolicies logged no hashed password check:\n%s", s.logs.String())
	}
	r := s.postSOAP("/EnrollmentServer/Enrollment.svc", asQuickstartUser(t, "a-enroll-request.xml"))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("enroll: %d %s", r.StatusCode, r.body)
	}
	if !s.logs.waitFor(`"password_check":"cached"`) {
		t.Fatalf("the enrollment's password check was not answered from the cache:\n%s", s.logs.String())
	}
	var hashed, cached int
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if !strings.Contains(l, `"msg":"password check"`) {
			continue
		}
		if !strings.Contains(l, `"user":"`+quickstartUser+`"`) {
			t.Errorf("password check line without the user: %s", l)
		}
		switch {
		case strings.Contains(l, `"password_check":"hashed"`):
			hashed++
		case strings.Contains(l, `"password_check":"cached"`):
			cached++
		}
	}
	if hashed != 1 || cached != 1 {
		t.Errorf("%d hashed and %d cached password checks, want one of each", hashed, cached)
	}
	if strings.Contains(s.logs.String(), quickstartPassword) {
		t.Error("the logs hold the password")
	}

	// A wrong password is refused, the cache notwithstanding.
	wrong := strings.Replace(string(asQuickstartUser(t, "a-enroll-request.xml")), quickstartPassword+"<", "not-"+quickstartPassword+"<", 1)
	if r := s.postSOAP("/EnrollmentServer/Enrollment.svc", []byte(wrong)); r.StatusCode == http.StatusOK {
		t.Error("wrong password enrolled")
	}
}

// TestPasswordCheckCached: an enrollment (GetPolicies, then
// RequestSecurityToken with the same UsernameToken) costs one password
// hash; the second check is answered from the cache.
func TestPasswordCheckCached(t *testing.T) {
	s := startCaddyFile(t, quickstartVariant(t, ""))
	enrollCountingChecks(t, s)
}

// TestArgon2idEnrollment: a user whose password hash is Caddy's argon2id
// (`caddy hash-password --algorithm argon2id`) enrolls.
func TestArgon2idEnrollment(t *testing.T) {
	out, err := exec.Command(caddyBin, "hash-password", "--algorithm", "argon2id", "--plaintext", quickstartPassword).Output()
	if err != nil {
		t.Fatalf("hash-password: %v", err)
	}
	hash := strings.TrimSpace(string(out))
	if !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("hash-password printed %q", hash)
	}
	s := startCaddyFile(t, quickstartVariant(t, hash))
	enrollCountingChecks(t, s)
}
