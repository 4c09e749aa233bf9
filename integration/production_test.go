package integration

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// pebble is a running ACME test server.
type pebble struct {
	dir, mgmt string
	minica    string // the CA of pebble's own TLS certificate
}

// startPebble runs Let's Encrypt's ACME test server with validation
// switched off (no DNS here), on loopback ports.
func startPebble(t *testing.T) (*pebble, string) {
	t.Helper()
	// pebble is a tool of the integration/tools module, not of ours.
	list := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/letsencrypt/pebble/v2")
	list.Dir = "tools"
	out, err := list.Output()
	if err != nil {
		t.Fatalf("locating pebble's test certificates: %v", err)
	}
	certs := filepath.Join(strings.TrimSpace(string(out)), "test", "certs")
	p := &pebble{dir: t.TempDir(), minica: filepath.Join(certs, "pebble.minica.pem")}
	acme := fmt.Sprintf("localhost:%d", freePort(t))
	p.mgmt = fmt.Sprintf("localhost:%d", freePort(t))
	conf, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": acme, "managementListenAddress": p.mgmt,
		"certificate": filepath.Join(certs, "localhost", "cert.pem"), "privateKey": filepath.Join(certs, "localhost", "key.pem"),
		"httpPort": freePort(t), "tlsPort": freePort(t), "ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	confFile := filepath.Join(p.dir, "pebble.json")
	must(t, os.WriteFile(confFile, conf, 0o600))
	cmd := exec.Command(pebbleBin, "-config", confFile)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	for i := 0; !strings.Contains(logs.String(), "Listening on"); i++ {
		if i > 100 {
			t.Fatalf("pebble did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, "https://" + acme + "/dir"
}

// issuingRoots fetches the roots pebble signs with (they change every run).
func (p *pebble) issuingRoots() *x509.CertPool {
	minica, err := os.ReadFile(p.minica)
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(minica)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	resp, err := c.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b) {
		return nil
	}
	if err := os.WriteFile(filepath.Join(p.dir, "roots.pem"), b, 0o600); err != nil {
		return nil
	}
	return roots
}

// TestProductionExampleLive runs the production example as written:
// automatic HTTPS for the enrollment host from an ACME CA (pebble here,
// Let's Encrypt in production), the device CA from files, accounts from the
// environment; then the emulator takes a device through its lifecycle.
func TestProductionExampleLive(t *testing.T) {
	peb, acmeURL := startPebble(t)
	caDir := t.TempDir()
	writeDeviceCA(t, caDir)
	hash, err := bcrypt.GenerateFromPassword([]byte(quickstartPassword), 10)
	must(t, err)
	s := &server{t: t, dir: t.TempDir(), config: filepath.Join("..", "caddyfile-examples", "onpremise-production.Caddyfile"), env: []string{
		"MDM_ACME_CA=" + acmeURL, "SSL_CERT_FILE=" + peb.minica, "MDM_CA_DIR=" + caDir,
		"MDM_USER=" + quickstartUser, "MDM_PASSWORD_HASH=" + string(hash),
	}}
	s.rootFile = filepath.Join(peb.dir, "roots.pem")
	s.trust = peb.issuingRoots
	s.start()

	state := t.TempDir()
	out, err := s.emulate("--state", state)
	id := mustPass(t, "enrollment against the production example", out, err)
	if !strings.Contains(out, "PASS  P1 TLS certificate names "+EnrollmentHost+" exactly") {
		t.Errorf("ACME certificate check missing:\n%s", out)
	}
	if out, err := s.cli("send", id, "--get", "./DevDetail/SwV"); err != nil {
		t.Fatalf("send: %v %s", err, out)
	}
	out, err = s.emulate("--state", state)
	mustPass(t, "session", out, err)
	if cmds, _ := s.cli("commands", id); !strings.Contains(cmds, "= 10.0.19043.2364") {
		t.Errorf("command not answered:\n%s", cmds)
	}
	if out, err := s.cli("unenroll", id); err != nil {
		t.Fatalf("unenroll: %v %s", err, out)
	}
	out, err = s.emulate("--state", state)
	mustPass(t, "unenrollment session", out, err)
	if !strings.Contains(out, "server unenrolled the device") {
		t.Errorf("not unenrolled:\n%s", out)
	}
}

// writeDeviceCA writes an RSA device CA as the production example expects.
func writeDeviceCA(t *testing.T, dir string) {
	t.Helper()
	key := testpki.NewKey(t, "rsa")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Contoso Device CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	must(t, err)
	keyPEM, err := certmagic.PEMEncodePrivateKey(key)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "device-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "device-ca.key"), keyPEM, 0o600))
}
