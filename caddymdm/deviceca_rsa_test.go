package caddymdm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// validateIn provisions a config with its storage in dir, which the test
// then inspects.
func validateIn(t *testing.T, cfg map[string]any, dir string) error {
	t.Helper()
	cfg["storage"] = map[string]any{"module": "file_system", "root": dir}
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

// storedDeviceCA reads the mdm CA's root and key from file storage dir, and
// the raw PEM of the root.
func storedDeviceCA(t *testing.T, dir string) (*x509.Certificate, []byte, *issuer.CA) {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(dir, "pki", "authorities", "mdm", "root.crt"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "pki", "authorities", "mdm", "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("root.crt is not a PEM certificate: %s", certPEM)
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := certmagic.PEMDecodePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ca := &issuer.CA{Signer: root, Key: key, Root: root}
	if err := ca.Validate(); err != nil {
		t.Fatal(err)
	}
	return root, certPEM, ca
}

// issueWith signs a device certificate for a fresh RSA key, as an enrollment
// would.
func issueWith(t *testing.T, ca *issuer.CA) *x509.Certificate {
	t.Helper()
	req, err := pkcs10.Parse(testpki.NewCSR(t, testpki.NewKey(t, "rsa"), "ignored"))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := issuer.NewSubject("1E08C6E95D8BB843B1278FF45BC60CC6")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := (&issuer.Issuer{CA: ca, Validity: 24 * time.Hour}).Issue(req, subject, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func quickstartWith(t *testing.T, deviceCA string) map[string]any {
	t.Helper()
	return adaptSnippet(t, "{\n mdm {\n auth on_premise {\n user demo $2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n.\n }\n"+
		deviceCA+"\n }\n}\nenterpriseenrollment.example.com {\n\ttls internal\n\tmdm\n}\n")
}

// TestDefaultDeviceCAIsRSA: without device_ca, the mdm CA is created with an
// RSA root signing sha256WithRSA (what real devices were seen with), at the
// storage keys caddypki loads it from, and a second start keeps it.
func TestDefaultDeviceCAIsRSA(t *testing.T) {
	dir := t.TempDir()
	if err := validateIn(t, quickstartWith(t, ""), dir); err != nil {
		t.Fatal(err)
	}
	root, rootPEM, ca := storedDeviceCA(t, dir)
	pub, ok := root.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != deviceRootBits {
		t.Fatalf("root key %T, want RSA %d", root.PublicKey, deviceRootBits)
	}
	if root.SignatureAlgorithm != x509.SHA256WithRSA || !isSelfSigned(root) {
		t.Errorf("root signed with %v (self-signed %v), want a self-signed SHA256-RSA root", root.SignatureAlgorithm, isSelfSigned(root))
	}
	if !root.IsCA || !root.BasicConstraintsValid || root.MaxPathLen != 1 || root.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("root constraints: CA %v, max path %d, key usage %b", root.IsCA, root.MaxPathLen, root.KeyUsage)
	}
	if life := root.NotAfter.Sub(root.NotBefore); life < 9*365*24*time.Hour || time.Until(root.NotBefore) > -30*time.Minute {
		t.Errorf("root valid %v from %v", life, root.NotBefore)
	}
	if want := "Caddy MDM Device Root - "; len(root.Subject.CommonName) < len(want) || root.Subject.CommonName[:len(want)] != want {
		t.Errorf("root CN %q", root.Subject.CommonName)
	}
	if cert := issueWith(t, ca); cert.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("device certificate signed with %v, want SHA256-RSA (PKCS#1 v1.5)", cert.SignatureAlgorithm)
	}

	if err := validateIn(t, quickstartWith(t, ""), dir); err != nil {
		t.Fatal(err)
	}
	if _, again, _ := storedDeviceCA(t, dir); !bytes.Equal(again, rootPEM) {
		t.Error("a second start replaced the device CA root")
	}
}

// TestDeviceCAKeyTypeECDSA: key_type ecdsa keeps caddypki's EC root, and an
// existing EC root is kept when the config asks for RSA (devices trust it).
func TestDeviceCAKeyTypeECDSA(t *testing.T) {
	dir := t.TempDir()
	if err := validateIn(t, quickstartWith(t, " device_ca {\n key_type ecdsa\n }"), dir); err != nil {
		t.Fatal(err)
	}
	root, rootPEM, ca := storedDeviceCA(t, dir)
	if _, ok := root.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("key_type ecdsa: root key %T", root.PublicKey)
	}
	if cert := issueWith(t, ca); cert.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("device certificate signed with %v, want ECDSA-SHA256", cert.SignatureAlgorithm)
	}
	if err := validateIn(t, quickstartWith(t, " device_ca {\n key_type rsa\n }"), dir); err != nil {
		t.Fatal(err)
	}
	if _, again, _ := storedDeviceCA(t, dir); !bytes.Equal(again, rootPEM) {
		t.Error("key_type rsa replaced an existing ECDSA device CA")
	}
}

// TestEnsureRSARootOnce: two processes starting at once on one storage end
// up with one root: the second waits for the lock and finds it.
func TestEnsureRSARootOnce(t *testing.T) {
	dir := t.TempDir()
	core, logs := observer.New(zap.InfoLevel)
	logger := zap.New(core)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One storage value per "process", as each would have its own.
			errs[i] = ensureRSARoot(context.Background(), &certmagic.FileStorage{Path: dir}, "mdm", "Test Root", logger)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := logs.FilterMessage("created the device CA").Len(); n != 1 {
		t.Errorf("root created %d times, want once", n)
	}
	storedDeviceCA(t, dir) // the key matches the certificate
	if locks, _ := filepath.Glob(filepath.Join(dir, "locks", "*")); len(locks) != 0 {
		t.Errorf("locks left behind: %v", locks)
	}
}

// TestDeviceCAKeyLog: a device CA that is not RSA, from whatever source, is
// kept with a warning that says how to switch; an RSA one logs nothing.
func TestDeviceCAKeyLog(t *testing.T) {
	for name, tc := range map[string]struct {
		kind, keyType string
		source        int
		level         string // "" for no line
		want          string
	}{
		"rsa default":         {kind: "rsa", source: caCreated},
		"rsa files":           {kind: "rsa", source: caFromFiles},
		"ecdsa kept":          {kind: "ecdsa", source: caCreated, level: "warn", want: "set the CA's storage (pki/authorities/mdm) aside"},
		"ecdsa files":         {kind: "ecdsa", source: caFromFiles, level: "warn", want: "give device_ca an RSA certificate and key (cert_file/key_file)"},
		"ecdsa pki app":       {kind: "ecdsa", source: caFromPKIApp, level: "warn", want: "configure that pki CA's root"},
		"ecdsa chosen":        {kind: "ecdsa", keyType: KeyTypeECDSA, source: caCreated, level: "info", want: "(key_type ecdsa)"},
		"ecdsa asked, rsa in": {kind: "rsa", keyType: KeyTypeECDSA, source: caCreated, level: "warn", want: "already exists with an RSA key and is kept"},
	} {
		t.Run(name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			(&DeviceCAConfig{KeyType: tc.keyType}).logKeyType(testpki.NewCA(t, tc.kind), tc.source, zap.New(core))
			entries := logs.All()
			if tc.level == "" {
				if len(entries) != 0 {
					t.Errorf("logged %q", entries[0].Message)
				}
				return
			}
			if len(entries) != 1 || entries[0].Level.String() != tc.level || !strings.Contains(entries[0].Message, tc.want) {
				t.Fatalf("got %+v, want one %s line containing %q", entries, tc.level, tc.want)
			}
			if tc.level == "warn" && tc.kind == "ecdsa" && !strings.Contains(entries[0].Message, "has not been seen on real Windows devices") {
				t.Errorf("warning does not say why: %q", entries[0].Message)
			}
		})
	}
}

// failingStorage fails every Load as an unreachable storage would, and
// records Stores.
type failingStorage struct {
	certmagic.FileStorage
	stored []string
}

func (s *failingStorage) Load(context.Context, string) ([]byte, error) {
	return nil, errors.New("connection refused")
}

func (s *failingStorage) Store(_ context.Context, key string, _ []byte) error {
	s.stored = append(s.stored, key)
	return nil
}

// TestEnsureRSARootStorageError: a storage that cannot tell whether a root
// exists stops the start; it never leads to a new root over a trusted one.
func TestEnsureRSARootStorageError(t *testing.T) {
	s := &failingStorage{FileStorage: certmagic.FileStorage{Path: t.TempDir()}}
	err := ensureRSARoot(context.Background(), s, "mdm", "Test Root", zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "connection refused") || len(s.stored) != 0 {
		t.Errorf("got %v, stored %v; want the storage error and nothing stored", err, s.stored)
	}
}
