package enroll

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"regexp"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

var testEndpoints = Endpoints{
	Discovery:  "https://enterpriseenrollment.mdmwindows.com/EnrollmentServer/Discovery.svc",
	Policy:     "https://enterpriseenrollment.mdmwindows.com/EnrollmentServer/Policy.svc",
	Enrollment: "https://enterpriseenrollment.mdmwindows.com/EnrollmentServer/Enrollment.svc",
	Management: "https://enterpriseenrollment.mdmwindows.com/ManagementServer/MDM.svc",
}

// The captures' users: device A enrolled as demo@mdmwindows.com, B as demio.
func captureUsers(t testing.TB) map[string][]byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("demo"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"demo@mdmwindows.com": h, "demio": h}
}

func bcryptCompare(hash, pw []byte) (bool, error) {
	err := bcrypt.CompareHashAndPassword(hash, pw)
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	return err == nil, err
}

type testService struct {
	*Service
	storage certmagic.Storage
}

func newTestService(t testing.TB, caKind string) *testService {
	t.Helper()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	fake, _ := bcrypt.GenerateFromPassword([]byte("fake"), bcrypt.MinCost)
	s := &Service{
		ProviderID:  "caddy-mdm",
		DisplayName: "Caddy MDM",
		Auth:        NewPasswordAuth(captureUsers(t), bcryptCompare, fake),
		Issuer:      &issuer.Issuer{CA: testpki.NewCA(t, caKind), Validity: 365 * 24 * time.Hour},
		Store:       store.New(storage),
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return &testService{Service: s, storage: storage}
}

func parseEnvelope(t testing.TB, b []byte) *soap.Envelope {
	t.Helper()
	env, err := soap.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func (s *testService) enroll(t testing.TB, req []byte) ([]byte, *Issued, error) {
	t.Helper()
	env := parseEnvelope(t, req)
	return s.RequestToken(context.Background(), env, CredentialsFrom(env, nil), testEndpoints)
}

func (s *testService) deviceCount(t testing.TB) int {
	t.Helper()
	keys, err := s.storage.List(context.Background(), "mdm/devices", false)
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

var bstText = regexp.MustCompile(`<BinarySecurityToken[^>]*>([^<]*)</BinarySecurityToken>`)

// provisioningDocument extracts and parses the document of a WSTEP response.
func provisioningDocument(t testing.TB, resp []byte) ([]byte, *provdoc.Node) {
	t.Helper()
	m := bstText.FindSubmatch(resp)
	if m == nil {
		t.Fatalf("response carries no BinarySecurityToken:\n%s", resp)
	}
	raw, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	n, err := provdoc.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, n
}

// replaceCSR swaps the PKCS#10 of a captured request for another one.
func replaceCSR(t testing.TB, req, csr []byte) []byte {
	t.Helper()
	re := regexp.MustCompile(`(#PKCS10"[^>]*>)[^<]+(<)`)
	out := re.ReplaceAll(req, []byte("${1}"+base64.StdEncoding.EncodeToString(csr)+"${2}"))
	if bytes.Equal(out, req) {
		t.Fatal("no CSR replaced")
	}
	return out
}
