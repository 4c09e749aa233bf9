package caddymdm

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/fedtoken"
)

// AuthConfig says how enrolling users authenticate: the AuthPolicy that
// discovery announces and that the policy and enrollment services enforce.
type AuthConfig struct {
	// One of on_premise, federated or certificate.
	Policy string `json:"policy"`

	// on_premise: users and their bcrypt password hashes (make one with
	// `caddy hash-password`).
	Users []User `json:"users,omitempty"`

	// federated: the login page the device opens (AuthenticationServiceUrl).
	AuthenticationServiceURL string `json:"authentication_service_url,omitempty"`
	// federated: the HMAC secret of enrollment tokens, at least 32 bytes.
	// Placeholders such as {env.MDM_TOKEN_SECRET} are replaced at load.
	TokenSecret string `json:"token_secret,omitempty"`

	// certificate: PEM files of the CAs whose client certificates may enroll.
	TrustedCACertFiles []string `json:"trusted_ca_cert_files,omitempty"`
}

// User is an OnPremise enrollment account.
type User struct {
	Username string `json:"username"`
	// The bcrypt hash of the password.
	Password string `json:"password"`
}

// Auth policy names in configuration.
const (
	authOnPremise   = "on_premise"
	authFederated   = "federated"
	authCertificate = "certificate"
)

func (c *AuthConfig) authenticator() (enroll.Authenticator, error) {
	switch c.Policy {
	case authOnPremise:
		if len(c.Users) == 0 {
			return nil, errors.New("on_premise needs at least one user")
		}
		var hasher caddyauth.BcryptHash
		users := make(map[string][]byte, len(c.Users))
		for _, u := range c.Users {
			if u.Username == "" {
				return nil, errors.New("on_premise user with an empty name")
			}
			if _, err := hasher.Compare([]byte(u.Password), nil); err != nil {
				return nil, fmt.Errorf("user %q: password is not a bcrypt hash (make one with `caddy hash-password`)", u.Username)
			}
			users[u.Username] = []byte(u.Password)
		}
		return enroll.NewPasswordAuth(users, hasher.Compare, hasher.FakeHash()), nil

	case authFederated:
		if c.AuthenticationServiceURL == "" {
			return nil, errors.New("federated needs authentication_service_url")
		}
		secret := caddy.NewReplacer().ReplaceAll(c.TokenSecret, "")
		if len(secret) < fedtoken.MinSecretLength {
			return nil, fmt.Errorf("federated token_secret must be at least %d bytes", fedtoken.MinSecretLength)
		}
		return &enroll.TokenAuth{
			ServiceURL: c.AuthenticationServiceURL,
			Verifier:   enroll.HMACTokenVerifier{Secret: []byte(secret), Now: time.Now},
		}, nil

	case authCertificate:
		if len(c.TrustedCACertFiles) == 0 {
			return nil, errors.New("certificate needs trusted_ca_cert_files")
		}
		pool := x509.NewCertPool()
		for _, f := range c.TrustedCACertFiles {
			certs, err := readCertificates(f)
			if err != nil {
				return nil, err
			}
			for _, cert := range certs {
				pool.AddCert(cert)
			}
		}
		return &enroll.CertificateAuth{Roots: pool, Now: time.Now}, nil
	}
	return nil, fmt.Errorf("policy %q: want on_premise, federated or certificate", c.Policy)
}

// readCertificates reads every CERTIFICATE block of a PEM file.
func readCertificates(file string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return certs, nil
}
