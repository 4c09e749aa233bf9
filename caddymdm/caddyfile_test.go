package caddymdm

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/caddyserver/certmagic"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// adapt turns an example Caddyfile into JSON config, failing on errors and
// warnings (an example must also be `caddy fmt` clean).
func adapt(t *testing.T, caddyfile string) map[string]any {
	t.Helper()
	return adaptChecked(t, caddyfile, true)
}

// adaptSnippet is adapt for inline test snippets, which need not be formatted.
func adaptSnippet(t *testing.T, caddyfile string) map[string]any {
	t.Helper()
	return adaptChecked(t, caddyfile, false)
}

func adaptChecked(t *testing.T, caddyfile string, formatted bool) map[string]any {
	t.Helper()
	cfgJSON, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, w := range warnings {
		if !formatted && strings.Contains(w.Message, "not formatted") {
			continue
		}
		t.Errorf("adapt warning: %s", w.String())
	}
	var cfg map[string]any
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// validate provisions a config (without starting it) with its storage in a
// temporary directory.
func validate(t *testing.T, cfg map[string]any) error {
	t.Helper()
	cfg["storage"] = map[string]any{"module": "file_system", "root": t.TempDir()}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var c caddy.Config
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&c)
}

func examples(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../caddyfile-examples/*.Caddyfile")
	if err != nil || len(files) < 2 {
		t.Fatalf("examples: %v %v", files, err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = string(b)
	}
	return out
}

// handlersByPath collects handler names under path matchers, walking subroutes.
func handlersByPath(v any, path string, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if m, ok := x["match"].([]any); ok {
			for _, mm := range m {
				if p, ok := mm.(map[string]any)["path"].([]any); ok && len(p) == 1 {
					path = p[0].(string)
				}
			}
		}
		if h, ok := x["handler"].(string); ok && strings.HasPrefix(h, "mdm_") {
			out[h] = path
		}
		for _, c := range x {
			handlersByPath(c, path, out)
		}
	case []any:
		for _, c := range x {
			handlersByPath(c, path, out)
		}
	}
}

func TestExamplesAdapt(t *testing.T) {
	t.Setenv("MDM_HUB_PRODUCT_ID", "{A1B2C3D4-0000-0000-0000-000000000001}")
	t.Setenv("MDM_USER", "alice@contoso.com")
	t.Setenv("MDM_PASSWORD_HASH", "$2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n.")
	for name, src := range examples(t) {
		t.Run(name, func(t *testing.T) {
			cfg := adapt(t, src)
			apps := cfg["apps"].(map[string]any)
			mdm, ok := apps["mdm"].(map[string]any)
			if !ok {
				t.Fatal("no mdm app")
			}
			if mdm["auth"].(map[string]any)["policy"] == "" {
				t.Error("no auth policy")
			}
			got := map[string]string{}
			handlersByPath(apps["http"], "", got)
			want := map[string]string{"mdm_discovery": DiscoveryPath, "mdm_xcep": PolicyPath, "mdm_wstep": EnrollmentPath, "mdm_omadm": ManagementPath}
			for h, p := range want {
				if got[h] != p {
					t.Errorf("%s on %q, want %q", h, got[h], p)
				}
			}
		})
	}
}

func TestQuickstartValidates(t *testing.T) {
	cfg := adapt(t, examples(t)["quickstart.Caddyfile"])
	if err := validate(t, cfg); err != nil {
		t.Fatalf("quickstart does not provision: %v", err)
	}
}

// writeCA writes an RSA CA certificate and key as PEM files.
func writeCA(t *testing.T, dir string) {
	t.Helper()
	key := testpki.NewKey(t, "rsa")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Contoso Device CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour * 24 * 3650),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := certmagic.PEMEncodePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "device-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "device-ca.key"), keyPEM, 0o600))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestProductionExampleValidatesWithFileCA(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir)
	t.Setenv("MDM_CA_DIR", dir)
	t.Setenv("MDM_USER", "alice@contoso.com")
	t.Setenv("MDM_PASSWORD_HASH", "$2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n.")
	cfg := adapt(t, examples(t)["onpremise-production.Caddyfile"])
	if err := validate(t, cfg); err != nil {
		t.Fatalf("production example with a file CA: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	site := "\nenterpriseenrollment.example.com {\n\ttls internal\n\tmdm\n}\n"
	user := "user demo $2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n."
	for name, tc := range map[string]struct{ global, want string }{
		"no auth":                        {"mdm {\n provider_id x\n}", "no enrollment authentication configured"},
		"plain password":                 {"mdm {\n auth on_premise {\n user demo demo\n }\n}", "not a bcrypt or argon2id hash"},
		"argon2id without key":           {"mdm {\n auth on_premise {\n user demo $argon2id$v=19$m=47104,t=1,p=1$P2nzckEdTZ3bxCiBCkRTyA$\n }\n}", "0-byte key"},
		"argon2id zero passes":           {"mdm {\n auth on_premise {\n user demo $argon2id$v=19$m=47104,t=0,p=1$P2nzckEdTZ3bxCiBCkRTyA$xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg\n }\n}", "want t ≥ 1"},
		"argon2id memory over the bound": {"mdm {\n auth on_premise {\n user demo $argon2id$v=19$m=4700000,t=1,p=1$P2nzckEdTZ3bxCiBCkRTyA$xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg\n }\n}", "m is at most"},
		"argon2id bad version":           {"mdm {\n auth on_premise {\n user demo $argon2id$v=16$m=47104,t=1,p=1$P2nzckEdTZ3bxCiBCkRTyA$xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg\n }\n}", "incompatible version"},
		"unknown policy":                 {"mdm {\n auth magic {\n " + user + "\n }\n}", "want on_premise, federated, entra or certificate"},
		"short token secret":             {"mdm {\n auth federated {\n authentication_service_url https://login.example.com\n token_secret short\n }\n}", "at least 32 bytes"},
		"missing pki ca":                 {"mdm {\n auth on_premise {\n " + user + "\n }\n device_ca {\n pki_ca nope\n }\n}", `no CA "nope"`},
		"rotating intermediate":          {"mdm {\n auth on_premise {\n " + user + "\n }\n device_ca {\n sign_with intermediate\n }\n}", "rotates weekly"},
		"missing CA file":                {"mdm {\n auth on_premise {\n " + user + "\n }\n device_ca {\n cert_file /nonexistent.pem\n key_file /nonexistent.key\n }\n}", "no such file"},
		"token without id":               {"mdm {\n auth on_premise {\n " + user + "\n }\n windows_phone8 {\n enrollment_token abc\n }\n}", "go together"},
		"http base url":                  {"mdm {\n base_url http://x.example.com\n auth on_premise {\n " + user + "\n }\n}", "only enrolls over HTTPS"},
		"bad wp8 mode":                   {"mdm {\n auth on_premise {\n " + user + "\n }\n windows_phone8 {\n mode sometimes\n }\n}", "want auto, always or never"},
		"missing aetx":                   {"mdm {\n auth on_premise {\n " + user + "\n }\n windows_phone8 {\n aetx_file /nonexistent/AET.aetx\n }\n}", "no such file"},
		"malformed aetx":                 {"mdm {\n auth on_premise {\n " + user + "\n }\n windows_phone8 {\n aetx_file " + aetxFile(t, "<AET><Nothing/></AET>") + "\n }\n}", "looked for AETId"},
		"aetx ID mismatch": {"mdm {\n auth on_premise {\n " + user + "\n }\n windows_phone8 {\n aetx_file " + aetxFile(t, "<AET><AETId>4000000001</AETId><AETToken>T</AETToken></AET>") +
			"\n enterprise_id 4000000002\n store_product_id {X}\n store_uri https://h/hub/x.xap\n }\n}", "does not match the Enterprise ID"},
		"aetx without hub": {"mdm {\n auth on_premise {\n " + user + "\n }\n windows_phone8 {\n aetx_file " + aetxFile(t, "<AET><AETId>4000000001</AETId><AETToken>T</AETToken></AET>") + "\n }\n}", "needs store_product_id and store_uri"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := adaptSnippet(t, "{\n"+tc.global+"\n}\n"+site)
			err := validate(t, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestPasswordAuthConfig: the failure limits of auth on_premise reach the
// authenticator, and the dummy hash for unknown users has the configured
// hashes' bcrypt cost (an unknown user must cost what a known one does).
func TestPasswordAuthConfig(t *testing.T) {
	cost4, err := bcrypt.GenerateFromPassword([]byte("x"), 4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := adaptSnippet(t, `{
	mdm {
		auth on_premise {
			user demo@contoso.com $2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n.
			user other `+string(cost4)+`
			user_failures 3 1h
			client_failures off
			failure_keys 500
		}
	}
}
enterpriseenrollment.example.com {
	tls internal
	mdm
}`)
	raw, _ := json.Marshal(cfg["apps"].(map[string]any)["mdm"].(map[string]any)["auth"])
	var ac AuthConfig
	if err := json.Unmarshal(raw, &ac); err != nil {
		t.Fatal(err)
	}
	l, err := ac.failureLimits()
	if err != nil {
		t.Fatal(err)
	}
	if l.PerUserBurst != 3 || l.PerUserEvery != time.Hour || l.PerClientBurst != 0 || l.MaxKeys != 500 {
		t.Errorf("limits %+v from %s", l, raw)
	}
	auth, err := ac.authenticator()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost(auth.(*enroll.PasswordAuth).DummyHash()); err != nil || c != 10 {
		t.Errorf("dummy hash cost %d (%v), want 10, the configured hashes' highest", c, err)
	}

	// Defaults, and the errors a JSON config can still hold.
	if l, err := (&AuthConfig{}).failureLimits(); err != nil || l.PerUserBurst != 5 || l.PerUserEvery != time.Minute ||
		l.PerClientBurst != 20 || l.PerClientEvery != 6*time.Second || l.MaxKeys != 10000 {
		t.Errorf("defaults %+v %v", l, err)
	}
	for _, bad := range []AuthConfig{
		{UserFailures: &FailureLimit{Burst: 0, Interval: caddy.Duration(time.Minute)}},
		{ClientFailures: &FailureLimit{Burst: 5}},
		{FailureKeys: -1},
	} {
		if _, err := bad.failureLimits(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// testArgon2idHash is demo-password, hashed by
// `caddy hash-password --algorithm argon2id` (Caddy's defaults: 46 MiB, one
// pass, one thread).
const testArgon2idHash = "$argon2id$v=19$m=47104,t=1,p=1$DHQgLTSEISaKg+HMgx3v2w$GJ9uxs+cHi4Uoqgen++V81cUXWwEe/ao10jMEKCiQvE"

// TestArgon2idAuthConfig: auth on_premise takes Caddy's argon2id hashes;
// unknown users are compared with an argon2id dummy of the costliest
// configured parameters, and the config provisions.
func TestArgon2idAuthConfig(t *testing.T) {
	// A cheaper hash, made by Caddy's hasher with the parameters of one
	// with a single pass over 8 MiB.
	cheapParams, _, err := caddyauth.DecodeHash([]byte("$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$" + strings.Repeat("A", 43)))
	if err != nil {
		t.Fatal(err)
	}
	cheap, err := cheapParams.Hash([]byte("other-password"))
	if err != nil {
		t.Fatal(err)
	}
	src := `{
	mdm {
		auth on_premise {
			user demo@contoso.com ` + testArgon2idHash + `
			user other ` + string(cheap) + `
		}
	}
}
enterpriseenrollment.example.com {
	tls internal
	mdm
}`
	cfg := adaptSnippet(t, src)
	if err := validate(t, cfg); err != nil {
		t.Fatalf("argon2id users: %v", err)
	}
	raw, _ := json.Marshal(cfg["apps"].(map[string]any)["mdm"].(map[string]any)["auth"])
	var ac AuthConfig
	if err := json.Unmarshal(raw, &ac); err != nil {
		t.Fatal(err)
	}
	if len(ac.Users) != 2 || ac.Users[0].Password != testArgon2idHash {
		t.Fatalf("users %+v", ac.Users)
	}
	auth, err := ac.authenticator()
	if err != nil {
		t.Fatal(err)
	}
	pa := auth.(*enroll.PasswordAuth)
	dummy := string(pa.DummyHash())
	want := strings.Join(strings.Split(testArgon2idHash, "$")[:5], "$") + "$"
	if !strings.HasPrefix(dummy, want) || dummy == testArgon2idHash {
		t.Errorf("dummy hash %q, want a fresh one with the parameters of %q", dummy, want)
	}
	if ok, err := (caddyauth.Argon2idHash{}).Compare([]byte(dummy), []byte("demo-password")); ok || err != nil {
		t.Errorf("dummy hash matches the user's password (%v)", err)
	}

	ctx := context.Background()
	for _, tc := range []struct {
		user, pw string
		ok       bool
	}{
		{"Demo@Contoso.com", "demo-password", true},
		{"demo@contoso.com", "demo-password", true}, // from the cache
		{"demo@contoso.com", "wrong", false},
		{"other", "other-password", true},
		{"nobody", "demo-password", false},
	} {
		user, err := pa.Authenticate(ctx, enroll.Credentials{Username: tc.user, Password: tc.pw})
		if (err == nil) != tc.ok || (tc.ok && user != tc.user) {
			t.Errorf("%s/%s: %q %v, want ok=%v", tc.user, tc.pw, user, err, tc.ok)
		}
	}
}

func aetxFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "AET.aetx")
	must(t, os.WriteFile(f, []byte(content), 0o600))
	return f
}

func TestCaddyfileSyntaxErrors(t *testing.T) {
	for name, src := range map[string]string{
		"unknown global key":   "{\n mdm {\n colour blue\n }\n}\n:443 {\n mdm\n}",
		"auth without policy":  "{\n mdm {\n auth\n }\n}\n:443 {\n mdm\n}",
		"user without hash":    "{\n mdm {\n auth on_premise {\n user demo\n }\n }\n}\n:443 {\n mdm\n}",
		"oma_dm_retry count":   "{\n mdm {\n windows_phone8 {\n oma_dm_retry 1 2 3\n }\n }\n}\n:443 {\n mdm\n}",
		"mdm with matcher":     ":443 {\n mdm /x\n}",
		"handler with args":    ":443 {\n mdm_wstep /x extra\n}",
		"bad duration":         "{\n mdm {\n certificate_validity forever\n }\n}\n:443 {\n mdm\n}",
		"hub without root arg": ":443 {\n mdm_hub {\n root\n }\n}",
		"hub unknown option":   ":443 {\n mdm_hub {\n colour blue\n }\n}",
		"hub argument":         ":443 {\n mdm_hub /x extra {\n }\n}",
		"failures zero burst":  "{\n mdm {\n auth on_premise {\n user_failures 0 1m\n }\n }\n}\n:443 {\n mdm\n}",
		"failures no interval": "{\n mdm {\n auth on_premise {\n user_failures 5\n }\n }\n}\n:443 {\n mdm\n}",
		"failures bad burst":   "{\n mdm {\n auth on_premise {\n client_failures x 1m\n }\n }\n}\n:443 {\n mdm\n}",
		"failures bad period":  "{\n mdm {\n auth on_premise {\n client_failures 5 never\n }\n }\n}\n:443 {\n mdm\n}",
		"failure_keys word":    "{\n mdm {\n auth on_premise {\n failure_keys many\n }\n }\n}\n:443 {\n mdm\n}",
	} {
		if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil); err == nil {
			t.Errorf("%s: adapted without error", name)
		}
	}
}

func TestSingleHandlersBehindMatchers(t *testing.T) {
	cfg := adaptSnippet(t, `{
	mdm {
		auth on_premise {
			user demo $2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n.
		}
		policy_url https://enroll.example.com/custom/policy
	}
}
enroll.example.com {
	tls internal
	mdm_discovery /EnrollmentServer/Discovery.svc
	handle /custom/policy {
		mdm_xcep
	}
	mdm_wstep /EnrollmentServer/Enrollment.svc
}
`)
	got := map[string]string{}
	handlersByPath(cfg["apps"].(map[string]any)["http"], "", got)
	if got["mdm_xcep"] != "/custom/policy" || got["mdm_discovery"] != DiscoveryPath || got["mdm_wstep"] != EnrollmentPath {
		t.Errorf("handlers %v", got)
	}
	if err := validate(t, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestDeviceCAKeyType: device_ca key_type reaches the JSON config, a value
// other than rsa or ecdsa is refused (by the Caddyfile adapter with its line,
// and by the app for JSON configs), and key_type is refused where it cannot
// apply: a CA from files, a CA the pki app configures.
func TestDeviceCAKeyType(t *testing.T) {
	const user = "user demo $2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n."
	const site = "\nenterpriseenrollment.example.com {\n\ttls internal\n\tmdm\n}\n"
	withCA := func(block string) string {
		return "{\n mdm {\n auth on_premise {\n " + user + "\n }\n device_ca {\n " + block + "\n }\n }\n}\n" + site
	}
	deviceCA := func(cfg map[string]any) map[string]any {
		return cfg["apps"].(map[string]any)["mdm"].(map[string]any)["device_ca"].(map[string]any)
	}
	for _, kt := range []string{"rsa", "ecdsa"} {
		cfg := adaptSnippet(t, withCA("key_type "+kt))
		if got := deviceCA(cfg)["key_type"]; got != kt {
			t.Errorf("key_type %s adapted to %v", kt, got)
		}
	}

	for name, block := range map[string]string{
		"unknown":   "key_type dsa",
		"uppercase": "key_type RSA",
		"no value":  "key_type",
		"two":       "key_type rsa ecdsa",
	} {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(withCA(block)), map[string]any{"filename": "Caddyfile"})
		if err == nil {
			t.Errorf("%s: %q adapted", name, block)
		}
		if name == "unknown" && (err == nil || !strings.Contains(err.Error(), `key_type "dsa": want rsa (default) or ecdsa`) || !strings.Contains(err.Error(), "Caddyfile:")) {
			t.Errorf("%s: error %v does not name the value, the choices and the line", name, err)
		}
	}

	// A JSON config is checked at provisioning.
	cfg := adaptSnippet(t, withCA("key_type rsa"))
	deviceCA(cfg)["key_type"] = "RSA"
	if err := validate(t, cfg); err == nil || !strings.Contains(err.Error(), `key_type "RSA": want rsa (default) or ecdsa`) {
		t.Errorf("JSON key_type RSA: %v", err)
	}

	// key_type where the key is not this app's to choose.
	dir := t.TempDir()
	writeCA(t, dir)
	files := "cert_file " + filepath.Join(dir, "device-ca.pem") + "\n key_file " + filepath.Join(dir, "device-ca.key")
	if err := validate(t, adaptSnippet(t, withCA(files+"\n key_type rsa"))); err == nil || !strings.Contains(err.Error(), "not to one from cert_file/key_file") {
		t.Errorf("key_type with files: %v", err)
	}
	if err := validate(t, adaptSnippet(t, withCA(files))); err != nil {
		t.Errorf("files without key_type: %v", err)
	}
	pkiApp := "{\n pki {\n ca mdm {\n name Other\n }\n }\n" + strings.TrimPrefix(withCA("key_type ecdsa"), "{\n")
	if err := validate(t, adaptSnippet(t, pkiApp)); err == nil || !strings.Contains(err.Error(), `not to pki CA "mdm" of the pki app`) {
		t.Errorf("key_type with a pki app CA: %v", err)
	}
}
