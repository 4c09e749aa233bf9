package integration

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/entra"
	"github.com/caddy-mdm/caddy-mdm/internal/entra/entratest"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// The Entra ID configuration of these tests: one tenant, the MDM
// application's client ID (v2 audience) and Application ID URI (v1).
const (
	entraTenant   = "8a3c1b2d-4e5f-4a6b-9c7d-0e1f2a3b4c5d"
	entraOther    = "11111111-2222-4333-8444-555555555555"
	entraClientID = "c0ffee00-1234-4abc-8def-0123456789ab"
	entraAppIDURI = "https://" + EnrollmentHost
	entraTerms    = "Contoso manages this device: it may install apps, enforce settings and wipe company data."
)

// entraServer starts caddy with `auth entra` whose keys come from
// keysLine (jwks_file ... or jwks_url ...), with terms of use when terms.
func entraServer(t *testing.T, keysLine string, terms bool) *server {
	t.Helper()
	tou := ""
	if terms {
		tou = "\n\t\t\tterms_of_use {\n\t\t\t\ttext \"" + entraTerms + "\"\n\t\t\t}"
	}
	cfg := fmt.Sprintf(`{
	https_port {$HTTPS_PORT:443}
	http_port {$HTTP_PORT:80}
	skip_install_trust
	mdm {
		display_name "Contoso Entra"
		trace_exchanges 10
		auth entra {
			tenant %s
			client_id %s
			audience %s
			%s%s
		}
	}
}

%s {
	tls internal {
		client_auth {
			mode verify_if_given
			trust_pool mdm_device_ca
		}
	}
	mdm
}
`, entraTenant, entraClientID, entraAppIDURI, keysLine, tou, EnrollmentHost)
	path := filepath.Join(t.TempDir(), "entra.Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startCaddyFile(t, path)
}

// jwksFile writes the JWKS of keys to a file.
func jwksFile(t *testing.T, keys ...*entratest.Key) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, entratest.JWKS(keys...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// emulateEntra enrolls a device the Entra way with `caddy mdm emulate --jwt`.
func (s *server) emulateEntra(args ...string) (string, error) {
	base := []string{"mdm", "emulate", "--server", "https://" + EnrollmentHost,
		"--connect-to", "127.0.0.1:" + itoa(s.httpsPort), "--root", s.rootFile}
	out, err := exec.Command(caddyBin, append(base, args...)...).CombinedOutput()
	return string(out), err
}

// entraRecord is the Entra part of a stored device record.
type entraRecord struct {
	User           string `json:"user"`
	EnrollmentType string `json:"enrollment_type"`
	AuthPolicy     string `json:"auth_policy"`
	TenantID       string `json:"entra_tenant_id"`
	ObjectID       string `json:"entra_object_id"`
}

func storedEntraDevice(t *testing.T, s *server, id string) entraRecord {
	t.Helper()
	var rec entraRecord
	b, err := os.ReadFile(filepath.Join(s.dataDir(), "mdm", "devices", id, "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// entraRST is a captured RequestSecurityToken sent with an Entra token,
// base64 as Windows sends it, and, when blob is not "", EnrollmentData.
func entraRST(t *testing.T, file, jwt, blob string) []byte {
	t.Helper()
	s := string(capture.Read(t, file))
	i, j := strings.Index(s, "<wsse:UsernameToken"), strings.Index(s, "</wsse:UsernameToken>")
	bst := `<wsse:BinarySecurityToken ValueType="` + soap.ValueTypeJWT + `" EncodingType="` + soap.EncodingTypeBase64Binary + `">` +
		base64.StdEncoding.EncodeToString([]byte(jwt)) + `</wsse:BinarySecurityToken>`
	s = s[:i] + bst + s[j+len("</wsse:UsernameToken>"):]
	if blob != "" {
		s = strings.Replace(s, "</ac:AdditionalContext>", `<ac:ContextItem Name="EnrollmentData"><ac:Value>`+blob+`</ac:Value></ac:ContextItem></ac:AdditionalContext>`, 1)
	}
	return []byte(s)
}

// mustFault checks a refusal: HTTP 500 and the MS-MDE2 fault subcode.
func mustFault(t *testing.T, what string, r response, subcode string) {
	t.Helper()
	if r.StatusCode != http.StatusInternalServerError || !strings.Contains(string(r.body), subcode) {
		t.Errorf("%s: HTTP %d, want 500 with %s:\n%s", what, r.StatusCode, subcode, clipped(r.body))
	}
}

// TestEntraEnrollment enrolls with v1 and v2 tokens signed by a test key
// served as jwks_file: an Entra join (EnrollmentType Device) and a work
// account (Full), each recorded with its tenant and object ID; then every
// token that fails one check is refused, in GetPolicies and
// RequestSecurityToken, with the Authentication fault and nothing stored.
func TestEntraEnrollment(t *testing.T) {
	key := entratest.NewKey("test-key-1")
	s := entraServer(t, "jwks_file "+jwksFile(t, key), false)
	now := time.Now()

	// Discovery: Federated, and no AuthenticationServiceUrl (Windows skips it).
	disc := s.postSOAP("/EnrollmentServer/Discovery.svc", capture.Read(t, "a-discovery-request.xml"))
	if disc.StatusCode != 200 || !strings.Contains(string(disc.body), "<AuthPolicy>Federated</AuthPolicy>") ||
		strings.Contains(string(disc.body), "AuthenticationServiceUrl") {
		t.Fatalf("discovery: %d %s", disc.StatusCode, clipped(disc.body))
	}

	v1 := entratest.V1(entraTenant, entraAppIDURI, "ada@contoso.com", now)
	out, err := s.emulateEntra("--jwt", key.Sign(v1), "--enrollment", "device")
	id := mustPass(t, "v1 Entra join", out, err)
	if rec := storedEntraDevice(t, s, id); rec.User != "ada@contoso.com" || rec.TenantID != entraTenant || rec.ObjectID != v1["oid"] ||
		rec.EnrollmentType != "Device" || rec.AuthPolicy != "Federated" {
		t.Errorf("v1 device record %+v", rec)
	}
	if !strings.Contains(out, "PASS") || !strings.Contains(out, "System") {
		t.Logf("emulator output:\n%s", out)
	}

	v2 := entratest.V2(entraTenant, entraClientID, "grace@contoso.com", now)
	out, err = s.emulateEntra("--jwt", key.Sign(v2), "--enrollment", "full")
	id = mustPass(t, "v2 work account", out, err)
	if rec := storedEntraDevice(t, s, id); rec.User != "grace@contoso.com" || rec.ObjectID != v2["oid"] || rec.EnrollmentType != "Full" {
		t.Errorf("v2 device record %+v", rec)
	}

	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustBytes(x509.MarshalPKIXPublicKey(&key.Private.PublicKey))})
	before := mdmSnapshot(t, s)
	for name, tok := range map[string]string{
		"wrong signature":             entratest.NewKey("test-key-1").Sign(v1),
		"alg none":                    noneToken(key.Sign(v1)),
		"HS256 with the public key":   entratest.SignWith(jose.HS256, jose.JSONWebKey{Key: pubPEM, KeyID: "test-key-1"}, v1),
		"unknown kid":                 entratest.NewKey("not-published").Sign(v1),
		"expired":                     key.Sign(v1.With("exp", now.Add(-10*time.Minute).Unix())),
		"not yet valid":               key.Sign(v1.With("nbf", now.Add(10*time.Minute).Unix())),
		"attacker's tenant":           key.Sign(entratest.V1(entraOther, entraAppIDURI, "eve@evil.example", now)),
		"v1 issuer of another tenant": key.Sign(v1.With("iss", "https://sts.windows.net/"+entraOther+"/")),
		"v2 issuer of another tenant": key.Sign(v2.With("iss", "https://login.microsoftonline.com/"+entraOther+"/v2.0")),
		"wrong audience":              key.Sign(v2.With("aud", "00000003-0000-0000-c000-000000000000")),
		"no mdm_delegation scope":     key.Sign(v1.With("scp", "User.Read")),
		"not a token":                 "hello",
		"audience of another app":     key.Sign(v1.With("aud", "https://other.contoso.com")),
	} {
		mustFault(t, name+" (RST)", s.postSOAP(enrollPath, entraRST(t, "a-enroll-request.xml", tok, "")), "s:Authentication")
		mustFault(t, name+" (GetPolicies)", s.postSOAP("/EnrollmentServer/Policy.svc", entraRST(t, "a-policy-request.xml", tok, "")), "s:Authentication")
	}
	if after := mdmSnapshot(t, s); len(after) != len(before) {
		t.Errorf("refused tokens changed the device state: %d files, was %d", len(after), len(before))
	}
	// The log names the refusing check, never the token.
	if !s.logs.waitFor("(tenant)") || strings.Contains(s.logs.String(), key.Sign(v1)[:60]) {
		t.Errorf("log lacks the refusing check or holds a token")
	}
}

func mustBytes(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// noneToken is signed's header replaced with alg "none" and no signature.
func noneToken(signed string) string {
	parts := strings.Split(signed, ".")
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"test-key-1","typ":"JWT"}`))
	return head + "." + parts[1] + "."
}

// TestEntraJWKSURL serves the keys from a local jwks_url: a key rolled
// over after the first fetch is found by refetching once, and a stream of
// unknown kids costs no further fetch.
func TestEntraJWKSURL(t *testing.T) {
	first, rolled := entratest.NewKey("k-2026-11"), entratest.NewKey("k-2026-12")
	var doc atomic.Pointer[[]byte]
	var fetches atomic.Int32
	set := entratest.JWKS(first)
	doc.Store(&set)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*doc.Load())
	}))
	t.Cleanup(keys.Close)
	s := entraServer(t, "jwks_url "+keys.URL+"/common/discovery/v2.0/keys", false)
	now := time.Now()

	out, err := s.emulateEntra("--jwt", first.Sign(entratest.V2(entraTenant, entraClientID, "grace@contoso.com", now)), "--enrollment", "device")
	mustPass(t, "enroll with the first key", out, err)
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d key fetches for the first enrollment, want 1 (cached between GetPolicies and RST)", n)
	}
	both := entratest.JWKS(first, rolled)
	doc.Store(&both)
	out, err = s.emulateEntra("--jwt", rolled.Sign(entratest.V1(entraTenant, entraAppIDURI, "ada@contoso.com", now)), "--enrollment", "device")
	mustPass(t, "enroll with the rolled-over key", out, err)
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d key fetches after the new kid, want 2", n)
	}
	// Each new kid may cause one refetch, all kids together MaxRefetches
	// per period (the rolled key's included): a flood costs no more.
	for i := 0; i < 8; i++ {
		tok := entratest.NewKey(fmt.Sprintf("forged-%d", i%6)).Sign(entratest.V1(entraTenant, entraAppIDURI, "eve@contoso.com", now))
		mustFault(t, "forged kid", s.postSOAP(enrollPath, entraRST(t, "a-enroll-request.xml", tok, "")), "s:Authentication")
	}
	if n := fetches.Load(); n != 1+entra.MaxRefetches {
		t.Errorf("%d key fetches after forged kids, want %d: refetches are rate-limited", n, 1+entra.MaxRefetches)
	}
}

// TestEntraUserToken: an Entra-joined device's sessions get device
// commands at once and ./User/ commands only once Alert 1224 carries a
// verified user token; the user is recorded, the token kept nowhere.
func TestEntraUserToken(t *testing.T) {
	key := entratest.NewKey("test-key-1")
	s := entraServer(t, "jwks_file "+jwksFile(t, key), false)
	now := time.Now()
	state := t.TempDir()
	out, err := s.emulateEntra("--state", state, "--jwt", key.Sign(entratest.V2(entraTenant, entraClientID, "grace@contoso.com", now)),
		"--enrollment", "device", "--sessions", "0")
	id := mustPass(t, "Entra join", out, err)

	queue := func(target string) string {
		r := s.admin(http.MethodPost, "/mdm/devices/"+id+"/commands",
			`{"verb":"Replace","items":[{"target":"`+target+`","format":"int","data":"1"}]}`)
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("queue %s: %d %s", target, r.StatusCode, r.body)
		}
		var c struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(r.body, &c)
		return c.ID
	}
	stateOf := func(cid string) string {
		r := s.admin(http.MethodGet, "/mdm/devices/"+id+"/commands/"+cid, "")
		var c struct {
			State string `json:"state"`
		}
		_ = json.Unmarshal(r.body, &c)
		return c.State
	}
	userCmd := queue("./User/Vendor/MSFT/Policy/Config/Start/HideSleep")
	devCmd := queue("./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera")

	// Right after the join nobody is signed in: device commands only.
	out, err = s.emulateEntra("--state", state)
	mustPass(t, "session without a user", out, err)
	if st := stateOf(devCmd); st != "acknowledged" {
		t.Errorf("device command %s after a session without user, want acknowledged", st)
	}
	if st := stateOf(userCmd); st != "queued" {
		t.Errorf("user command %s without a signed-in user, want queued", st)
	}

	// A forged user token does not release it.
	forged := entratest.NewKey("test-key-1").Sign(entratest.V2(entraTenant, entraClientID, "grace@contoso.com", now))
	out, err = s.emulateEntra("--state", state, "--aad-user-token", forged)
	mustPass(t, "session with a forged user token", out, err)
	if st := stateOf(userCmd); st != "queued" {
		t.Errorf("user command %s after a forged user token, want queued", st)
	}

	userToken := key.Sign(entratest.V2(entraTenant, entraClientID, "grace@contoso.com", now))
	out, err = s.emulateEntra("--state", state, "--aad-user-token", userToken)
	mustPass(t, "session with the user's token", out, err)
	if st := stateOf(userCmd); st != "acknowledged" {
		t.Errorf("user command %s once the user signed in, want acknowledged", st)
	}
	r := s.admin(http.MethodGet, "/mdm/devices/"+id, "")
	if !strings.Contains(string(r.body), `"com.microsoft/MDM/AADUserToken":"grace@contoso.com"`) {
		t.Errorf("inventory does not name the signed-in user:\n%s", r.body)
	}
	for file, content := range mdmSnapshot(t, s) {
		if strings.Contains(content, userToken[:80]) || strings.Contains(content, forged[:80]) {
			t.Errorf("%s keeps the user token", file)
		}
	}
	if strings.Contains(s.logs.String(), userToken[:80]) {
		t.Error("the log holds the user token")
	}
	tr, err := s.cli("trace", id)
	if err != nil || strings.Contains(tr, userToken[:80]) || !strings.Contains(tr, "AADUserToken") || !strings.Contains(tr, "REDACTED") {
		t.Errorf("device trace: %v, token shown or not redacted:\n%s", err, tr)
	}
}
