package caddymdm

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

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
}

// DefaultDeviceCAID is the pki CA used when none is named.
const DefaultDeviceCAID = "mdm"

func (c *DeviceCAConfig) load(ctx caddy.Context, logger *zap.Logger) (*issuer.CA, error) {
	if c == nil {
		c = &DeviceCAConfig{}
	}
	var ca *issuer.CA
	var err error
	if c.CertFile != "" || c.KeyFile != "" {
		if c.PKICA != "" {
			return nil, errors.New("choose either pki_ca or cert_file/key_file")
		}
		ca, err = c.loadFiles()
	} else {
		ca, err = c.loadPKI(ctx, logger)
	}
	if err != nil {
		return nil, err
	}
	return ca, ca.Validate()
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

func (c *DeviceCAConfig) loadPKI(ctx caddy.Context, logger *zap.Logger) (*issuer.CA, error) {
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
	if pkiCA == nil {
		if c.PKICA != "" && c.PKICA != DefaultDeviceCAID {
			return nil, fmt.Errorf("the pki app has no CA %q", c.PKICA)
		}
		// The default device CA: created in storage on first start, loaded
		// after that. Never installed into any trust store.
		noTrust := false
		pkiCA = &caddypki.CA{
			Name:           "Caddy MDM Device CA",
			RootCommonName: "Caddy MDM Device Root",
			InstallTrust:   &noTrust,
		}
		if err := pkiCA.Provision(ctx, id, logger); err != nil {
			return nil, err
		}
	}
	root := pkiCA.RootCertificate()
	switch c.SignWith {
	case "", "root":
		key, err := pkiCA.RootKey()
		if err != nil {
			return nil, err
		}
		return &issuer.CA{Signer: root, Key: key, Root: root}, nil
	case "intermediate":
		if pkiCA.Intermediate == nil {
			return nil, fmt.Errorf("pki CA %q has no configured intermediate: its generated one rotates weekly and must not sign device certificates", id)
		}
		chain := pkiCA.IntermediateCertificateChain()
		return &issuer.CA{Signer: chain[0], Key: pkiCA.IntermediateKey(), Root: root, Intermediates: chain}, nil
	}
	return nil, fmt.Errorf("sign_with %q: want root or intermediate", c.SignWith)
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil && string(c.RawIssuer) == string(c.RawSubject)
}
