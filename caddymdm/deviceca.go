package caddymdm

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddypki"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
)

// DeviceCAConfig chooses the CA that signs device certificates: a CA of
// Caddy's pki app, or a certificate and key read from files.
//
// Device certificates are never signed with a pki CA's auto-rotated
// intermediate: it changes every week, and a device's chain would break.
type DeviceCAConfig struct {
	// The ID of a CA of the pki app. Default: mdm. When the pki app does not
	// configure it, the CA is created in Caddy's storage on first start.
	PKICA string `json:"pki_ca,omitempty"`
	// root (default) or intermediate. intermediate needs a pki CA whose
	// intermediate is configured from files, so it does not rotate.
	SignWith string `json:"sign_with,omitempty"`

	// A PEM file of the signing certificate (optionally followed by its
	// chain up to the root), instead of a pki CA.
	CertFile string `json:"cert_file,omitempty"`
	// The PEM private key of CertFile (RSA or ECDSA).
	KeyFile string `json:"key_file,omitempty"`
	// The root CertFile chains to, when CertFile holds an intermediate
	// without it.
	RootCertFile string `json:"root_cert_file,omitempty"`

	// The key of the device CA when this app creates it (the default pki CA
	// "mdm", not configured in the pki app, on first start): rsa (default,
	// an RSA 3072 root signing with sha256WithRSA, as every real-device
	// capture shows) or ecdsa (caddypki's EC P-256 root, not seen on real
	// Windows devices). A CA that already exists is never replaced.
	KeyType string `json:"key_type,omitempty"`
}

// DefaultDeviceCAID is the pki CA used when none is named.
const DefaultDeviceCAID = "mdm"

func (c *DeviceCAConfig) load(ctx caddy.Context, logger *zap.Logger) (*issuer.CA, error) {
	if c == nil {
		c = &DeviceCAConfig{}
	}
	if err := checkKeyType(c.KeyType); err != nil {
		return nil, err
	}
	var ca *issuer.CA
	var err error
	source := caFromPKIApp
	if c.CertFile != "" || c.KeyFile != "" {
		if c.PKICA != "" {
			return nil, errors.New("choose either pki_ca or cert_file/key_file")
		}
		if c.KeyType != "" {
			return nil, errors.New("key_type applies to the device CA this app creates, not to one from cert_file/key_file (its key is the key file's)")
		}
		source = caFromFiles
		ca, err = c.loadFiles()
	} else {
		var created bool
		ca, created, err = c.loadPKI(ctx, logger)
		if created {
			source = caCreated
		}
	}
	if err != nil {
		return nil, err
	}
	if err := ca.Validate(); err != nil {
		return nil, err
	}
	c.logKeyType(ca, source, logger)
	return ca, nil
}

// Where the device CA comes from.
const (
	caCreated    = iota // the default pki CA, created in storage by this app
	caFromPKIApp        // a CA the pki app configures
	caFromFiles         // cert_file/key_file
)

// checkKeyType refuses a key_type other than rsa or ecdsa.
func checkKeyType(kt string) error {
	switch kt {
	case "", KeyTypeRSA, KeyTypeECDSA:
		return nil
	}
	return fmt.Errorf("key_type %q: want %s (default) or %s", kt, KeyTypeRSA, KeyTypeECDSA)
}

// logKeyType warns when the device CA is not RSA: every real-device capture
// and dump shows RSA-signed device certificates, none an ECDSA-signed one.
// The CA is kept either way; devices trust it.
func (c *DeviceCAConfig) logKeyType(ca *issuer.CA, source int, logger *zap.Logger) {
	algo := x509.RSA
	for _, cert := range []*x509.Certificate{ca.Signer, ca.Root} {
		if cert.PublicKeyAlgorithm != x509.RSA {
			algo = cert.PublicKeyAlgorithm
		}
	}
	fields := []zap.Field{zap.String("device_ca_key", algo.String()), zap.String("device_ca_root", ca.Root.Subject.String())}
	switch {
	case algo == x509.RSA && c.KeyType == KeyTypeECDSA:
		logger.Warn("key_type ecdsa: the device CA already exists with an RSA key and is kept; key_type only applies when the CA is created", fields...)
	case algo == x509.RSA:
	case c.KeyType == KeyTypeECDSA:
		logger.Info("the device CA is "+algo.String()+" (key_type ecdsa): only RSA-signed (sha256WithRSA) device certificates have been seen on real Windows devices", fields...)
	default:
		var how string
		switch source {
		case caCreated:
			how = "set the CA's storage (" + path.Dir(c.rootStorageKey()) + ") aside so that an RSA CA is created at the next start, or give device_ca an RSA CA from files (cert_file/key_file)"
		case caFromPKIApp:
			how = "configure that pki CA's root (and any intermediate) from an RSA certificate and key file, or give device_ca an RSA CA from files (cert_file/key_file)"
		default:
			how = "give device_ca an RSA certificate and key (cert_file/key_file), or leave them out to use the RSA CA this app creates"
		}
		logger.Warn("the device CA is "+algo.String()+", which has not been seen on real Windows devices: every real-device capture signs device certificates with RSA (sha256WithRSA). It is kept, as enrolled devices trust it. To switch to RSA, "+how+"; devices enrolled under the current CA must then enroll again", fields...)
	}
}

// rootStorageKey is where caddypki keeps the root of the pki CA.
func (c *DeviceCAConfig) rootStorageKey() string {
	id := c.PKICA
	if id == "" {
		id = DefaultDeviceCAID
	}
	certKey, _ := pkiRootKeys(id)
	return certKey
}

func (c *DeviceCAConfig) loadFiles() (*issuer.CA, error) {
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, errors.New("cert_file and key_file go together")
	}
	chain, err := readCertificates(c.CertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, err
	}
	key, err := certmagic.PEMDecodePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", c.KeyFile, err)
	}
	ca := &issuer.CA{Signer: chain[0], Key: key}
	last := chain[len(chain)-1]
	switch {
	case c.RootCertFile != "":
		roots, err := readCertificates(c.RootCertFile)
		if err != nil {
			return nil, err
		}
		ca.Root = roots[0]
		ca.Intermediates = chain
	case isSelfSigned(last):
		ca.Root = last
		ca.Intermediates = chain[:len(chain)-1]
	default:
		return nil, fmt.Errorf("%s does not end in a self-signed root: set root_cert_file", c.CertFile)
	}
	return ca, nil
}

// loadPKI loads the pki CA; created tells it is the default one this app
// creates in storage rather than one the pki app configures.
func (c *DeviceCAConfig) loadPKI(ctx caddy.Context, logger *zap.Logger) (ca *issuer.CA, created bool, err error) {
	id := c.PKICA
	if id == "" {
		id = DefaultDeviceCAID
	}
	var pkiCA *caddypki.CA
	// Only look into a pki app the config has: loading an unconfigured one
	// would create Caddy's "local" CA and try to install it system-wide.
	if app, err := ctx.AppIfConfigured("pki"); err == nil {
		pkiCA = app.(*caddypki.PKI).CAs[id]
	}
	if pkiCA != nil && c.KeyType != "" {
		return nil, false, fmt.Errorf("key_type applies to the device CA this app creates, not to pki CA %q of the pki app (which makes its own keys)", id)
	}
	if pkiCA == nil {
		if c.PKICA != "" && c.PKICA != DefaultDeviceCAID {
			return nil, false, fmt.Errorf("the pki app has no CA %q", c.PKICA)
		}
		// The default device CA: created in storage on first start, loaded
		// after that. Never installed into any trust store. caddypki only
		// makes EC P-256 roots, so for key_type rsa an RSA root is put where
		// caddypki loads its root from before it looks.
		created = true
		noTrust := false
		pkiCA = &caddypki.CA{
			Name:           "Caddy MDM Device CA",
			RootCommonName: "Caddy MDM Device Root - {time.now.year} ECC",
			InstallTrust:   &noTrust,
		}
		if c.KeyType != KeyTypeECDSA {
			cn := fmt.Sprintf("Caddy MDM Device Root - %d RSA", time.Now().Year())
			if err := ensureRSARoot(ctx, ctx.Storage(), id, cn, logger); err != nil {
				return nil, false, err
			}
		}
		if err := pkiCA.Provision(ctx, id, logger); err != nil {
			return nil, false, err
		}
	}
	root := pkiCA.RootCertificate()
	switch c.SignWith {
	case "", "root":
		key, err := pkiCA.RootKey()
		if err != nil {
			return nil, false, err
		}
		return &issuer.CA{Signer: root, Key: key, Root: root}, created, nil
	case "intermediate":
		if pkiCA.Intermediate == nil {
			return nil, false, fmt.Errorf("pki CA %q has no configured intermediate: its generated one rotates weekly and must not sign device certificates", id)
		}
		chain := pkiCA.IntermediateCertificateChain()
		return &issuer.CA{Signer: chain[0], Key: pkiCA.IntermediateKey(), Root: root, Intermediates: chain}, created, nil
	}
	return nil, false, fmt.Errorf("sign_with %q: want root or intermediate", c.SignWith)
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil && string(c.RawIssuer) == string(c.RawSubject)
}
