package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Device is the emulated device and what enrollment gave it. It is saved in
// a state directory so later runs reuse the enrollment.
type Device struct {
	ID      string `json:"device_id"`
	HWDevID string `json:"hw_dev_id"`
	GUID    string `json:"guid"`
	KeyPEM  string `json:"key_pem"`
	CertDER []byte `json:"cert_der,omitempty"`
	RootDER []byte `json:"root_der,omitempty"`

	ProviderID    string `json:"provider_id,omitempty"`
	ManagementURL string `json:"management_url,omitempty"`
	EnrollmentURL string `json:"enrollment_url,omitempty"`
	// RenewURL is the document's CertificateStore/My/WSTEP/Renew/ServerURL,
	// where a renewal starts (with Discovery, as the CertificateStore CSP
	// describes it).
	RenewURL       string `json:"renew_url,omitempty"`
	EnrollmentType string `json:"enrollment_type,omitempty"`
	// APPSRV: what the device sends; CLIENT: what it expects from the server.
	ServerName   string `json:"server_name,omitempty"`
	ServerSecret string `json:"server_secret,omitempty"`
	ServerNonce  string `json:"server_nonce,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	ClientNonce  string `json:"client_nonce,omitempty"`

	// Session counts OMA-DM sessions (SessionID is its hex).
	Session int `json:"session"`
	// Nodes is the device's configuration tree as the server set it.
	Nodes      map[string]string `json:"nodes"`
	Unenrolled bool              `json:"unenrolled,omitempty"`

	key *rsa.PrivateKey
	// tlsSessions keeps the device's TLS sessions between its OMA-DM
	// sessions in this process, for resumption.
	tlsSessions tls.ClientSessionCache
}

// sessionCache returns the device's TLS session cache, made on first use.
func (d *Device) sessionCache() tls.ClientSessionCache {
	if d.tlsSessions == nil {
		d.tlsSessions = tls.NewLRUClientSessionCache(4)
	}
	return d.tlsSessions
}

// NewDevice makes a device with random IDs and the given key.
func NewDevice(key *rsa.PrivateKey) *Device {
	id := make([]byte, 16)
	hw := make([]byte, 32)
	g := make([]byte, 16)
	_, _ = rand.Read(id)
	_, _ = rand.Read(hw)
	_, _ = rand.Read(g)
	guid := strings.ToUpper(hex.EncodeToString(g))
	d := &Device{
		ID:      strings.ToUpper(hex.EncodeToString(id)),
		HWDevID: strings.ToUpper(hex.EncodeToString(hw)),
		GUID:    guid[:8] + "-" + guid[8:12] + "-" + guid[12:16] + "-" + guid[16:20] + "-" + guid[20:26],
		Nodes:   map[string]string{},
		key:     key,
	}
	d.KeyPEM = string(pemKey(key))
	d.Nodes["./DevDetail/SwV"] = "10.0.19043.2364"
	d.Nodes["./DevInfo/Man"] = "VMware, Inc."
	d.Nodes["./DevInfo/Mod"] = "VMware7,1"
	d.Nodes["./DevInfo/DmV"] = "1.3"
	d.Nodes["./DevInfo/Lang"] = "en-US"
	d.Nodes["./DevInfo/DevId"] = d.ID
	return d
}

// Enrolled reports whether the device holds a certificate.
func (d *Device) Enrolled() bool { return len(d.CertDER) > 0 && !d.Unenrolled }

// tlsCertificate is the device's client certificate with its key.
func (d *Device) tlsCertificate() *tls.Certificate {
	if len(d.CertDER) == 0 {
		return nil
	}
	return &tls.Certificate{Certificate: [][]byte{d.CertDER}, PrivateKey: d.key}
}

// Certificate parses the device's certificate.
func (d *Device) Certificate() (*x509.Certificate, error) { return x509.ParseCertificate(d.CertDER) }

// Key is the device's private key.
func (d *Device) Key() *rsa.PrivateKey { return d.key }

const stateFile = "device.json"

// Save writes the device to dir/device.json (mode 0600: it holds a key).
func (d *Device) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, stateFile), b, 0o600)
}

// LoadDevice reads a device saved by Save; it returns nil, nil when there is
// none.
func LoadDevice(dir string) (*Device, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &Device{}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("device state: %v", err)
	}
	block, _ := pem.Decode([]byte(d.KeyPEM))
	if block == nil {
		return nil, fmt.Errorf("device state: no key")
	}
	if d.key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		return nil, fmt.Errorf("device state: %v", err)
	}
	if d.Nodes == nil {
		d.Nodes = map[string]string{}
	}
	return d, nil
}

func pemKey(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}
