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
	"golang.org/x/crypto/bcrypt"

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

	// on_premise: failed password checks allowed per user name (lower-cased)
	// before refusing, and how fast that budget refills. Default: 5
	// failures, then one per minute.
	UserFailures *FailureLimit `json:"user_failures,omitempty"`
	// on_premise: the same per client address. Default: 20 failures, then
	// one per 6s.
	ClientFailures *FailureLimit `json:"client_failures,omitempty"`
	// on_premise: how many user names and client addresses each limit
	// remembers at most (the least recently used are forgotten first).
	// Default: 10000.
	FailureKeys int `json:"failure_keys,omitempty"`

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

// FailureLimit is a budget of failed password checks: Burst failures, then
// one more per Interval. A request over it is refused before its password
// is checked.
type FailureLimit struct {
	Burst    int            `json:"burst,omitempty"`
	Interval caddy.Duration `json:"interval,omitempty"`
	// Off turns the limit off.
	Off bool `json:"off,omitempty"`
}

// maxFailureKeys bounds failure_keys.
const maxFailureKeys = 1_000_000

// failureLimits resolves the configured limits over the defaults.
func (c *AuthConfig) failureLimits() (enroll.FailureLimits, error) {
	l := enroll.DefaultFailureLimits
	for _, x := range []struct {
		name  string
		cfg   *FailureLimit
		burst *int
		every *time.Duration
	}{
		{"user_failures", c.UserFailures, &l.PerUserBurst, &l.PerUserEvery},
		{"client_failures", c.ClientFailures, &l.PerClientBurst, &l.PerClientEvery},
	} {
		switch {
		case x.cfg == nil:
		case x.cfg.Off:
			*x.burst = 0
		case x.cfg.Burst < 1 || x.cfg.Interval <= 0:
			return l, fmt.Errorf("%s needs a burst of at least 1 and a positive interval (or off)", x.name)
		default:
			*x.burst, *x.every = x.cfg.Burst, time.Duration(x.cfg.Interval)
		}
	}
	if c.FailureKeys < 0 || c.FailureKeys > maxFailureKeys {
		return l, fmt.Errorf("failure_keys %d: want 1 to %d", c.FailureKeys, maxFailureKeys)
	}
	if c.FailureKeys > 0 {
		l.MaxKeys = c.FailureKeys
	}
	return l, nil
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
		hashes := make([][]byte, 0, len(c.Users))
		for _, u := range c.Users {
			if u.Username == "" {
				return nil, errors.New("on_premise user with an empty name")
			}
			if _, err := bcrypt.Cost([]byte(u.Password)); err != nil {
				return nil, fmt.Errorf("user %q: password is not a bcrypt hash (make one with `caddy hash-password`)", u.Username)
			}
			users[u.Username] = []byte(u.Password)
			hashes = append(hashes, []byte(u.Password))
		}
		limits, err := c.failureLimits()
		if err != nil {
			return nil, err
		}
		// Unknown users are checked against a hash of the users' cost, so
		// that refusing them costs exactly what refusing a known one does.
		fake, err := enroll.DummyBcryptHash(hashes...)
		if err != nil {
			return nil, fmt.Errorf("making the dummy password hash: %v", err)
		}
		a := enroll.NewPasswordAuth(users, hasher.Compare, fake)
		a.LimitFailures(limits)
		return a, nil

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
