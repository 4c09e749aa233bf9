package caddymdm

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
)

// AuthConfig says how enrolling users authenticate: the AuthPolicy that
// discovery announces and that the policy and enrollment services enforce.
type AuthConfig struct {
	// One of on_premise, federated or certificate.
	Policy string `json:"policy"`

	// on_premise: users and their bcrypt or argon2id password hashes, all of
	// one algorithm (make one with `caddy hash-password`, --algorithm bcrypt
	// or argon2id). federated: the accounts of the login page, same rules
	// (and the same failure limits below).
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
	// Default: this server's own login page, https://<host>/EnrollmentServer/Login
	// (served when users or oidc are configured); set it for a page elsewhere.
	AuthenticationServiceURL string `json:"authentication_service_url,omitempty"`
	// federated: the HMAC secret of enrollment tokens (HS256 JWTs), at
	// least 32 bytes. Placeholders such as {env.MDM_TOKEN_SECRET} are
	// replaced at load. Default: a random secret kept in the mdm storage,
	// shared by every node of a cluster (an external login page needs it set).
	TokenSecret string `json:"token_secret,omitempty"`
	// federated: how long a token from the login page is valid. Default:
	// 10 minutes; at most 1 hour.
	TokenLifetime caddy.Duration `json:"token_lifetime,omitempty"`
	// federated: sign-in on the login page through an OpenID Connect
	// provider (authorization code flow with PKCE). Users and oidc may be
	// configured together; the page then offers both.
	OIDC *OIDCConfig `json:"oidc,omitempty"`
	// fed holds what the federated policy built: set up by
	// federatedAuth, read by the mdm_login handler.
	fed federatedState

	// certificate: PEM files of the CAs whose client certificates may enroll.
	TrustedCACertFiles []string `json:"trusted_ca_cert_files,omitempty"`

	// entra: Entra ID (Azure AD) join and work-account enrollment with
	// Entra access tokens (authentra.go).
	Entra *EntraConfig `json:"entra,omitempty"`
}

// User is an OnPremise enrollment account.
type User struct {
	// The user name the device sends (usually the e-mail address the user
	// types), matched case-insensitively. Required; no default.
	Username string `json:"username"`
	// The bcrypt or argon2id hash of the password, as `caddy
	// hash-password` makes it.
	Password string `json:"password"`
}

// FailureLimit is a budget of failed password checks: Burst failures, then
// one more per Interval. A request over it is refused before its password
// is checked.
type FailureLimit struct {
	// How many failed checks are allowed at once, at least 1 unless off.
	// No default of its own: without the limit, user_failures allows 5 and
	// client_failures 20.
	Burst int `json:"burst,omitempty"`
	// How often one more failed check is allowed, positive unless off. No
	// default of its own: without the limit, user_failures refills one per
	// minute and client_failures one per 6s.
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
		return c.passwordAuth()

	case authFederated:
		return c.federatedAuth()

	case authEntra:
		return c.Entra.authenticator(c.fed.storage)

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
	return nil, fmt.Errorf("policy %q: want on_premise, federated, entra or certificate", c.Policy)
}

// passwordAuth checks the configured users' passwords: the UsernameToken
// of on_premise, the login page of federated. Both share the hash rules,
// the dummy hash of unknown users and the failure limits.
func (c *AuthConfig) passwordAuth() (*enroll.PasswordAuth, error) {
	users := make(map[string][]byte, len(c.Users))
	var bcrypts, argons [][]byte
	for _, u := range c.Users {
		if u.Username == "" {
			return nil, fmt.Errorf("%s user with an empty name", c.Policy)
		}
		a, err := hashAlgorithm([]byte(u.Password))
		if err != nil {
			return nil, fmt.Errorf("user %q: password %v (make one with `caddy hash-password`, --algorithm bcrypt or argon2id)", u.Username, err)
		}
		// Users may mix algorithms (migrating one user at a time);
		// dummyPasswordHash picks what unknown users are checked with.
		if a == algoArgon2id {
			argons = append(argons, []byte(u.Password))
		} else {
			bcrypts = append(bcrypts, []byte(u.Password))
		}
		users[u.Username] = []byte(u.Password)
	}
	limits, err := c.failureLimits()
	if err != nil {
		return nil, err
	}
	fake, err := dummyPasswordHash(c.Policy, bcrypts, argons)
	if err != nil {
		return nil, fmt.Errorf("making the dummy password hash: %v", err)
	}
	a := enroll.NewPasswordAuth(users, compareHash, fake)
	a.LimitFailures(limits)
	// GetPolicies and then RequestSecurityToken carry the same
	// UsernameToken: the second check is answered from memory.
	a.CachePasswords(enroll.DefaultPassCacheTTL, enroll.DefaultPassCacheSize, nil)
	a.ReportChecks(logPasswordCheck)
	return a, nil
}

// Password hash algorithms, as `caddy hash-password --algorithm` names them.
const (
	algoBcrypt   = "bcrypt"
	algoArgon2id = "argon2id"
)

// argon2idParams are the cost parameters of an argon2id hash in Caddy's
// format, $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<key>.
type argon2idParams struct {
	memory, time    uint64
	threads         uint64
	saltLen, keyLen int
}

// Bounds of an acceptable argon2id hash: below them a hash is weak (an
// empty key would match any password) or would make argon2 panic.
const (
	minArgon2idKey  = 16
	minArgon2idSalt = 8
)

// parseArgon2id reads and checks the parameters of an argon2id hash,
// after caddyauth.DecodeHash (which compares with it) accepted it.
func parseArgon2id(h []byte) (argon2idParams, error) {
	var p argon2idParams
	if _, _, err := caddyauth.DecodeHash(h); err != nil {
		return p, fmt.Errorf("is not an argon2id hash: %v", err)
	}
	parts := strings.Split(string(h), "$")
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return p, fmt.Errorf("is not an argon2id hash: parameters %q: %v", parts[3], err)
	}
	salt, _ := base64.RawStdEncoding.DecodeString(parts[4])
	key, _ := base64.RawStdEncoding.DecodeString(parts[5])
	p.saltLen, p.keyLen = len(salt), len(key)
	switch {
	case p.time < 1 || p.threads < 1 || p.memory < 8*p.threads:
		return p, fmt.Errorf("argon2id parameters %q: want t ≥ 1, p ≥ 1 and m ≥ 8·p", parts[3])
	case p.memory > maxArgon2idMemoryKiB:
		// Every check allocates m KiB, unauthenticated requests included:
		// a typo must not let strangers make the server allocate gigabytes.
		return p, fmt.Errorf("argon2id parameters %q: m is at most %d KiB (256 MiB); Caddy's default is 47104", parts[3], maxArgon2idMemoryKiB)
	case p.keyLen < minArgon2idKey || p.saltLen < minArgon2idSalt:
		return p, fmt.Errorf("argon2id hash has a %d-byte key and a %d-byte salt: want at least %d and %d", p.keyLen, p.saltLen, minArgon2idKey, minArgon2idSalt)
	}
	return p, nil
}

// maxArgon2idMemoryKiB bounds the memory one argon2id check may take.
const maxArgon2idMemoryKiB = 256 << 10

// costlier reports whether an argon2id hash of p takes longer to check
// than one of q: more memory × passes, then fewer threads (lanes run in
// parallel), then a longer key.
func (p argon2idParams) costlier(q argon2idParams) bool {
	if pw, qw := p.memory*p.time, q.memory*q.time; pw != qw {
		return pw > qw
	}
	if p.threads != q.threads {
		return p.threads < q.threads
	}
	return p.keyLen > q.keyLen
}

// hashAlgorithm names the algorithm of a configured password hash, or
// says why it is neither.
func hashAlgorithm(h []byte) (string, error) {
	if bytes.HasPrefix(h, []byte("$"+algoArgon2id+"$")) {
		_, err := parseArgon2id(h)
		return algoArgon2id, err
	}
	if _, err := bcrypt.Cost(h); err != nil {
		return "", errors.New("is not a bcrypt or argon2id hash")
	}
	return algoBcrypt, nil
}

// dummyArgon2idHash returns an argon2id hash of a random password with the
// parameters of the costliest of hashes (all argon2id), made by Caddy's
// hasher. It reuses that hash's salt: the password is random and never
// kept, so the dummy tells nothing.
func dummyArgon2idHash(hashes [][]byte) ([]byte, error) {
	var most []byte
	var mostP argon2idParams
	for _, h := range hashes {
		p, err := parseArgon2id(h)
		if err != nil {
			return nil, err
		}
		if most == nil || p.costlier(mostP) {
			most, mostP = h, p
		}
	}
	if most == nil {
		return nil, errors.New("no argon2id hash")
	}
	hasher, _, err := caddyauth.DecodeHash(most)
	if err != nil {
		return nil, err
	}
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	return hasher.Hash([]byte(hex.EncodeToString(pw)))
}

// logPasswordCheck logs a successful password check at debug level, saying
// whether it was answered from the cache ("cached") or by computing the
// hash ("hashed").
func logPasswordCheck(c enroll.PasswordCheck) {
	how := "hashed"
	if c.Cached {
		how = "cached"
	}
	caddy.Log().Named("mdm.auth").Debug("password check",
		zap.String("user", c.User), zap.String("password_check", how))
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
