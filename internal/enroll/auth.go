package enroll

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/fedtoken"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// Authentication policies, as named in the discovery response.
const (
	PolicyOnPremise   = "OnPremise"
	PolicyFederated   = "Federated"
	PolicyCertificate = "Certificate"
)

// Credentials are what a request offered to prove who enrolls.
type Credentials struct {
	// Username and Password come from a wsse:UsernameToken (OnPremise).
	Username, Password string
	// Token is a BinarySecurityToken of the wsse:Security header (Federated).
	Token *soap.BinaryToken
	// PeerCertificates is the TLS client certificate chain (Certificate).
	PeerCertificates []*x509.Certificate
}

// CredentialsFrom takes the credentials of an envelope and a TLS peer chain.
func CredentialsFrom(env *soap.Envelope, peer []*x509.Certificate) Credentials {
	return Credentials{
		Username:         env.Security.Username,
		Password:         env.Security.Password,
		Token:            env.Security.Token,
		PeerCertificates: peer,
	}
}

// Authenticator decides who is enrolling. An error means the credentials are
// missing or wrong; its text is logged, never sent to the device.
type Authenticator interface {
	// Policy is the AuthPolicy discovery announces.
	Policy() string
	Authenticate(ctx context.Context, c Credentials) (user string, err error)
}

// PasswordCompare compares a stored password hash with a plaintext password.
type PasswordCompare func(hash, plaintext []byte) (bool, error)

// PasswordAuth is the OnPremise policy: a UsernameToken checked against
// configured users and their password hashes. User names compare without
// regard to case, as Windows sends what the user typed.
type PasswordAuth struct {
	users   map[string][]byte
	compare PasswordCompare
	// fakeHash is compared for unknown users, so that a wrong user name takes
	// as long to refuse as a wrong password.
	fakeHash []byte
}

// NewPasswordAuth returns an OnPremise authenticator over user → hash.
func NewPasswordAuth(users map[string][]byte, compare PasswordCompare, fakeHash []byte) *PasswordAuth {
	m := make(map[string][]byte, len(users))
	for u, h := range users {
		m[strings.ToLower(u)] = h
	}
	return &PasswordAuth{users: m, compare: compare, fakeHash: fakeHash}
}

// Policy implements Authenticator.
func (*PasswordAuth) Policy() string { return PolicyOnPremise }

// Authenticate implements Authenticator.
func (a *PasswordAuth) Authenticate(_ context.Context, c Credentials) (string, error) {
	if c.Username == "" || c.Password == "" {
		return "", errors.New("no UsernameToken with user name and password")
	}
	hash, known := a.users[strings.ToLower(c.Username)]
	if !known {
		hash = a.fakeHash
	}
	ok, err := a.compare(hash, []byte(c.Password))
	if err != nil {
		return "", fmt.Errorf("comparing password of %q: %v", c.Username, err)
	}
	if !ok || !known {
		return "", fmt.Errorf("wrong user name or password for %q", c.Username)
	}
	return c.Username, nil
}

// TokenVerifier checks a federated enrollment token and names its user.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, token string) (user string, err error)
}

// TokenAuth is the Federated policy: the device sends the token its login
// page gave it as a BinarySecurityToken.
type TokenAuth struct {
	Verifier TokenVerifier
	// ServiceURL is the AuthenticationServiceUrl announced by discovery.
	ServiceURL string
}

// Policy implements Authenticator.
func (*TokenAuth) Policy() string { return PolicyFederated }

// Authenticate implements Authenticator.
func (a *TokenAuth) Authenticate(ctx context.Context, c Credentials) (string, error) {
	t := c.Token
	if t == nil || t.Value == "" {
		return "", errors.New("no BinarySecurityToken in the Security header")
	}
	if t.ValueType != soap.ValueTypeUserToken && t.ValueType != soap.ValueTypeJWT {
		return "", fmt.Errorf("token ValueType %q is not a user token", t.ValueType)
	}
	token := t.Value
	if strings.HasSuffix(t.EncodingType, "#base64binary") {
		raw, err := base64.StdEncoding.DecodeString(token)
		if err != nil {
			return "", fmt.Errorf("token is not base64: %v", err)
		}
		token = string(raw)
	}
	return a.Verifier.VerifyToken(ctx, token)
}

// HMACTokenVerifier verifies tokens minted by package fedtoken.
type HMACTokenVerifier struct {
	Secret []byte
	Now    func() time.Time
}

// VerifyToken implements TokenVerifier.
func (v HMACTokenVerifier) VerifyToken(_ context.Context, token string) (string, error) {
	return fedtoken.Verify(v.Secret, token, v.Now())
}

// CertificateAuth is the Certificate policy: the device presents, in the
// TLS handshake, a client certificate issued by one of the trusted CAs.
type CertificateAuth struct {
	Roots *x509.CertPool
	Now   func() time.Time
}

// Policy implements Authenticator.
func (*CertificateAuth) Policy() string { return PolicyCertificate }

// Authenticate implements Authenticator. The user is the certificate's first
// e-mail address, or else its subject common name.
func (a *CertificateAuth) Authenticate(_ context.Context, c Credentials) (string, error) {
	if len(c.PeerCertificates) == 0 {
		return "", errors.New("no TLS client certificate")
	}
	leaf := c.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, ic := range c.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         a.Roots,
		Intermediates: inter,
		CurrentTime:   a.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return "", fmt.Errorf("client certificate %q: %v", leaf.Subject, err)
	}
	if len(leaf.EmailAddresses) > 0 {
		return leaf.EmailAddresses[0], nil
	}
	if leaf.Subject.CommonName == "" {
		return "", errors.New("client certificate names no user")
	}
	return leaf.Subject.CommonName, nil
}
