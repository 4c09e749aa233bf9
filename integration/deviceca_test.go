package integration

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
)

// The device CA log lines (caddymdm/deviceca*.go).
const (
	createdCALog = "created the device CA"
	notSeenLog   = "has not been seen on real Windows devices"
)

// documentRoot is the device CA root the provisioning document installs
// (CertificateStore/Root/System).
func documentRoot(t *testing.T, doc *provdoc.Node) *x509.Certificate {
	t.Helper()
	roots := doc.Find("CertificateStore", "Root", "System")
	if roots == nil || len(roots.Children) != 1 {
		t.Fatal("the document installs no single root in CertificateStore/Root/System")
	}
	der, err := base64.StdEncoding.DecodeString(roots.Children[0].Value("EncodedCertificate"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestQuickstartDeviceCAIsRSA: the quickstart's device CA, created on first
// start, is RSA and signs device certificates with sha256WithRSA, as every
// real-device capture shows; a restart loads the same root, which still
// authenticates the device's management session.
func TestQuickstartDeviceCAIsRSA(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	if !strings.Contains(s.logs.String(), createdCALog) {
		t.Errorf("first start did not log %q", createdCALog)
	}
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	root := documentRoot(t, a.doc)
	if _, ok := root.PublicKey.(*rsa.PublicKey); !ok || root.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("document root: %T key, %v signature; want RSA, SHA256-RSA", root.PublicKey, root.SignatureAlgorithm)
	}
	if stored := readPEMCert(t, filepath.Join(s.dataDir(), "pki", "authorities", "mdm", "root.crt")); !bytes.Equal(stored.Raw, root.Raw) {
		t.Error("document root is not the mdm CA root in storage")
	}
	leaf := a.cert.Leaf
	if leaf.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("device certificate signed with %v, want SHA256-RSA (PKCS#1 v1.5)", leaf.SignatureAlgorithm)
	}
	if err := leaf.CheckSignatureFrom(root); err != nil {
		t.Errorf("device certificate not signed by the document root: %v", err)
	}
	if strings.Contains(s.logs.String(), notSeenLog) {
		t.Error("an RSA device CA logged the ECDSA warning")
	}

	s.stop()
	s.start()
	if strings.Contains(s.logs.String(), createdCALog) {
		t.Error("a restart created another device CA")
	}
	b := enrollDevice(t, s, "b-enroll-request.xml", deviceB)
	if again := documentRoot(t, b.doc); !bytes.Equal(again.Raw, root.Raw) {
		t.Errorf("root after restart %q, was %q", again.Subject, root.Subject)
	}
	if err := b.cert.Leaf.CheckSignatureFrom(root); err != nil {
		t.Errorf("device B's certificate not signed by the same root: %v", err)
	}
	// Device A's certificate from before the restart still opens a session
	// (TLS client auth with trust_pool mdm_device_ca, then mdm_omadm).
	_, m := s.manage(s.deviceClient(a.cert), capture.Read(t, "a-syncml-session1-msg1.xml"))
	if st := m.Commands[0]; st.Cmd != "SyncHdr" || st.Data != "200" {
		t.Errorf("session with the pre-restart certificate: %+v", st)
	}
}

// TestDeviceCAKeyTypeECDSA: device_ca key_type ecdsa gives an ECDSA CA and
// ECDSA-signed device certificates; a later config asking for RSA (the
// default) keeps that CA, which devices already trust, and warns.
func TestDeviceCAKeyTypeECDSA(t *testing.T) {
	quickstart := filepath.Join("..", "caddyfile-examples", "quickstart.Caddyfile")
	b, err := os.ReadFile(quickstart)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "\t\ttrace_exchanges 20\n", "\t\ttrace_exchanges 20\n\t\tdevice_ca {\n\t\t\tkey_type ecdsa\n\t\t}\n", 1)
	if cfg == string(b) {
		t.Fatal("cannot add device_ca to the quickstart")
	}
	ecdsaConfig := filepath.Join(t.TempDir(), "ecdsa.Caddyfile")
	if err := os.WriteFile(ecdsaConfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	s := startCaddyFile(t, ecdsaConfig)
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	root := documentRoot(t, a.doc)
	if _, ok := root.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("key_type ecdsa: document root has a %T key", root.PublicKey)
	}
	if got := a.cert.Leaf.SignatureAlgorithm; got != x509.ECDSAWithSHA256 {
		t.Errorf("key_type ecdsa: device certificate signed with %v, want ECDSA-SHA256", got)
	}
	if strings.Contains(s.logs.String(), createdCALog) {
		t.Error("key_type ecdsa logged the creation of an RSA CA")
	}

	// The same storage with the plain quickstart: the ECDSA CA stays.
	s.stop()
	s.config = quickstart
	s.start()
	if !strings.Contains(s.logs.String(), notSeenLog) || !strings.Contains(s.logs.String(), "pki/authorities/mdm") {
		t.Errorf("an ECDSA device CA under key_type rsa logged no warning saying how to move:\n%s", s.logs.String())
	}
	bdev := enrollDevice(t, s, "b-enroll-request.xml", deviceB)
	if again := documentRoot(t, bdev.doc); !bytes.Equal(again.Raw, root.Raw) {
		t.Error("the default key_type rsa replaced an existing ECDSA device CA")
	}
	if got := bdev.cert.Leaf.SignatureAlgorithm; got != x509.ECDSAWithSHA256 {
		t.Errorf("kept ECDSA CA signed with %v", got)
	}
}
