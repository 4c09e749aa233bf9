package enroll

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-mdm/caddy-mdm/internal/fedtoken"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Authentication policies, as named in the discovery response.
const (
	PolicyOnPremise   = store.PolicyOnPremise
	PolicyFederated   = store.PolicyFederated
	PolicyCertificate = store.PolicyCertificate
)

// Credentials are what a request offered to prove who enrolls.
type Credentials struct {
	// Username and Password come from a wsse:UsernameToken (OnPremise).
	Username, Password string
	// Token is a BinarySecurityToken of the wsse:Security header (Federated).
	Token *soap.BinaryToken
	// PeerCertificates is the TLS client certificate chain (Certificate).
	PeerCertificates []*x509.Certificate
	// RemoteAddr is the client's address (an IP, with or without port),
	// for limiting failed password checks per client; "" for none.
	RemoteAddr string
	// Action is the SOAP action of the request: a single-use token is
	// spent by RequestSecurityToken, only checked by GetPolicies.
	Action string
}

// CredentialsFrom takes the credentials of an envelope and a TLS peer chain.
func CredentialsFrom(env *soap.Envelope, peer []*x509.Certificate) Credentials {
	return Credentials{
		Username:         env.Security.Username,
		Password:         env.Security.Password,
		Token:            env.Security.Token,
		PeerCertificates: peer,
		Action:           env.Action,
	}
}

// Authenticator decides who is enrolling. An error means the credentials are
// missing or wrong; its text is logged, never sent to the device.
type Authenticator interface {
	// Policy is the AuthPolicy discovery announces.
	Policy() store.AuthPolicy
	Authenticate(ctx context.Context, c Credentials) (user string, err error)
}

// PasswordCompare compares a stored password hash with a plaintext password.
type PasswordCompare func(hash, plaintext []byte) (bool, error)

// PasswordAuth is the OnPremise policy: a UsernameToken checked against
// configured users and their password hashes. User names compare without
// regard to case, as Windows sends what the user typed.
//
// An unknown user costs what a known one does: its password is compared
// with a dummy hash of the same algorithm and cost (DummyBcryptHash), so
// neither timing nor load tells which users exist. Failed checks are
// limited per user name and per client address (LimitFailures); a limited
// request is refused before any hash is computed.
//
// A successful check can be remembered for a few minutes (CachePasswords),
// keyed by a MAC that keeps nothing usable as a password: Windows sends the
// same UsernameToken in GetPolicies and then RequestSecurityToken, and the
// second check then costs no hash. A remembered check still passes the
// failure limits first, and counts as a success there. Wrong passwords are
// never remembered.
type PasswordAuth struct {
	users   map[string][]byte
	compare PasswordCompare
	// fakeHash is compared for unknown users, so that a wrong user name takes
	// as long to refuse as a wrong password.
	fakeHash []byte

	// perUser and perClient are nil when not limited.
	perUser, perClient *failureLimiter
	now                func() time.Time

	// cache is nil when successful checks are not remembered.
	cache *passCache
	// report, if set, is told of every successful check.
	report func(PasswordCheck)
	// hashing bounds the password hashes computed at once: each costs tens
	// of milliseconds of a core (and an argon2id one tens of MB), so more at
	// once than cores only adds memory, whoever sends the requests.
	hashing chan struct{}
}

// PasswordCheck describes a successful password check, for logs.
type PasswordCheck struct {
	// User is the user name as the device sent it.
	User string
	// Cached is set when the check was answered from the cache of recent
	// successful checks, without computing a hash.
	Cached bool
}

// NewPasswordAuth returns an OnPremise authenticator over user → hash.
// fakeHash must have the algorithm and cost of the users' hashes. Failed
// checks are not limited until LimitFailures is called, and successful ones
// not remembered until CachePasswords is.
func NewPasswordAuth(users map[string][]byte, compare PasswordCompare, fakeHash []byte) *PasswordAuth {
	m := make(map[string][]byte, len(users))
	for u, h := range users {
		m[strings.ToLower(u)] = h
	}
	return &PasswordAuth{users: m, compare: compare, fakeHash: fakeHash, now: time.Now,
		hashing: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
}

// enterHashing waits for a hashing slot, or for the request to end.
func (a *PasswordAuth) enterHashing(ctx context.Context) error {
	select {
	case a.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CachePasswords sets how long a successful check is remembered (0 for
// not at all) and how many are at most; now is the clock, nil for
// time.Now. It empties the cache.
func (a *PasswordAuth) CachePasswords(ttl time.Duration, size int, now func() time.Time) {
	a.cache = nil
	if ttl > 0 {
		a.cache = newPassCache(ttl, size, now)
	}
}

// ReportChecks has f told of every successful check (for a debug log);
// nil for none.
func (a *PasswordAuth) ReportChecks(f func(PasswordCheck)) { a.report = f }

// DummyHash returns the hash compared for unknown users.
func (a *PasswordAuth) DummyHash() []byte { return a.fakeHash }

// DummyBcryptHash returns a bcrypt hash of a random password at the highest
// cost among hashes (the default cost if none is bcrypt), to compare unknown
// users' passwords with: refusing them then costs what refusing a known
// user does.
func DummyBcryptHash(hashes ...[]byte) ([]byte, error) {
	cost := 0
	for _, h := range hashes {
		if c, err := bcrypt.Cost(h); err == nil {
			cost = max(cost, c)
		}
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	return bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(pw)), cost)
}

// FailureLimits bound failed password checks: per lower-cased user name and
// per client address, Burst failures, then one more per Every. A zero Burst
// turns a limit off. MaxKeys bounds each table.
type FailureLimits struct {
	PerUserBurst   int
	PerUserEvery   time.Duration
	PerClientBurst int
	PerClientEvery time.Duration
	MaxKeys        int
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

// DefaultFailureLimits: five failures per user name then one a minute,
// twenty per client address then one every six seconds, 10,000 keys each.
var DefaultFailureLimits = FailureLimits{
	PerUserBurst: 5, PerUserEvery: time.Minute,
	PerClientBurst: 20, PerClientEvery: 6 * time.Second,
	MaxKeys: 10000,
}

// LimitFailures sets the limits of failed checks.
func (a *PasswordAuth) LimitFailures(l FailureLimits) {
	if l.MaxKeys <= 0 {
		l.MaxKeys = DefaultFailureLimits.MaxKeys
	}
	a.perUser, a.perClient = nil, nil
	if l.PerUserBurst > 0 && l.PerUserEvery > 0 {
		a.perUser = newFailureLimiter(l.PerUserBurst, l.PerUserEvery, l.MaxKeys)
	}
	if l.PerClientBurst > 0 && l.PerClientEvery > 0 {
		a.perClient = newFailureLimiter(l.PerClientBurst, l.PerClientEvery, l.MaxKeys)
	}
	a.now = time.Now
	if l.Now != nil {
		a.now = l.Now
	}
}

// RateLimitedError refuses a password check because the user name or the
// client address failed too often. It is logged; it holds no secret.
type RateLimitedError struct {
	User, RemoteAddr string
	// By is "user" or "client": the limit that refused.
	By string
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("authentication rate-limited: too many failed passwords for this %s (user %q, client %q)", e.By, e.User, e.RemoteAddr)
}

// maxUserKey bounds the user names kept verbatim as limiter keys; longer
// ones (no configured user is that long) are kept as a digest.
const maxUserKey = 256

func userKey(user string) string {
	k := strings.ToLower(user)
	if len(k) > maxUserKey {
		sum := sha256.Sum256([]byte(k))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

// clientKey is the address without its port.
// An IPv6 client is keyed by its /64: one host usually holds a whole /64
// and could otherwise draw a fresh budget per address.
func clientKey(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() && !ip.Is4In6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	if len(host) > maxUserKey {
		return host[:maxUserKey]
	}
	return host
}

// Policy implements Authenticator.
func (*PasswordAuth) Policy() store.AuthPolicy { return PolicyOnPremise }

// Authenticate implements Authenticator.
func (a *PasswordAuth) Authenticate(ctx context.Context, c Credentials) (string, error) {
	if c.Username == "" || c.Password == "" {
		return "", errors.New("no UsernameToken with user name and password")
	}
	name := strings.ToLower(c.Username)
	// Only known users' successes are cached, so a hit is one. Checks of a
	// pair that is being checked wait here, holding nothing of the limits.
	hit, finish, err := a.lookupCache(ctx, name, c.Password)
	if finish != nil {
		defer finish()
	}
	if err != nil {
		return "", err
	}
	// A limited user name or client is refused before any hash, and before
	// waiting for a hashing slot; a hit passes the limits and spends nothing.
	if err := a.limited(c); err != nil {
		return "", err
	}
	if hit {
		a.succeeded(c.Username, true)
		return c.Username, nil
	}
	if err := a.enterHashing(ctx); err != nil {
		return "", err
	}
	defer func() { <-a.hashing }()
	// Admitted only now, holding a slot: the check holds a failure of each
	// budget until it ends, so parallel guesses cannot overdraw them.
	done, err := a.admit(c)
	if err != nil {
		return "", err
	}
	// Released on every path, a panicking comparison included (counted as
	// a failure), so no check holds a budget for good.
	failed := true
	defer func() { done(failed) }()
	hash, known := a.users[name]
	if !known {
		hash = a.fakeHash
	}
	ok, err := a.compare(hash, []byte(c.Password))
	failed = err != nil || !ok || !known
	if err != nil {
		return "", fmt.Errorf("comparing password of %q: %v", c.Username, err)
	}
	if !ok || !known {
		return "", fmt.Errorf("wrong user name or password for %q", c.Username)
	}
	if a.cache != nil {
		a.cache.add(name, c.Password)
	}
	a.succeeded(c.Username, false)
	return c.Username, nil
}

// lookupCache answers from the cache of successful checks, waiting once for
// a check of the same pair that is running. On a miss, finish (when not
// nil) ends the check this caller now leads.
func (a *PasswordAuth) lookupCache(ctx context.Context, name, password string) (hit bool, finish func(), err error) {
	if a.cache == nil {
		return false, nil, nil
	}
	hit, wait, finish := a.cache.lookup(name, password)
	if wait == nil {
		return hit, finish, nil
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return false, nil, ctx.Err()
	}
	hit, _, finish = a.cache.lookup(name, password)
	return hit, finish, nil
}

func (a *PasswordAuth) succeeded(user string, cached bool) {
	if a.report != nil {
		a.report(PasswordCheck{User: user, Cached: cached})
	}
}

// limited refuses a check whose user name or client address has no failure
// left in its budget, holding nothing.
func (a *PasswordAuth) limited(c Credentials) error {
	now := a.now()
	user, client := userKey(c.Username), clientKey(c.RemoteAddr)
	if a.perUser != nil && user != "" && !a.perUser.allows(user, now) {
		return &RateLimitedError{User: c.Username, RemoteAddr: client, By: "user"}
	}
	if a.perClient != nil && client != "" && !a.perClient.allows(client, now) {
		return &RateLimitedError{User: c.Username, RemoteAddr: client, By: "client"}
	}
	return nil
}

// admit checks the failure budgets of the user name and the client address
// before any hash is computed, and holds a failure of each while the check
// runs; done(failed) ends the check.
func (a *PasswordAuth) admit(c Credentials) (done func(failed bool), err error) {
	now := a.now()
	user, client := userKey(c.Username), clientKey(c.RemoteAddr)
	var held []*failureLimiter
	var keys []string
	release := func(failed bool) {
		t := a.now()
		for i, l := range held {
			l.release(keys[i], failed, t)
		}
	}
	for _, lk := range []struct {
		l   *failureLimiter
		key string
		by  string
	}{{a.perUser, user, "user"}, {a.perClient, client, "client"}} {
		if lk.l == nil || lk.key == "" {
			continue
		}
		if !lk.l.acquire(lk.key, now) {
			release(false)
			return nil, &RateLimitedError{User: c.Username, RemoteAddr: client, By: lk.by}
		}
		held, keys = append(held, lk.l), append(keys, lk.key)
	}
	return release, nil
}

// IsRateLimited reports whether err refused a password check for too many
// failures.
func IsRateLimited(err error) bool {
	var rl *RateLimitedError
	return errors.As(err, &rl)
}

// authFault answers an authentication failure.
func authFault(err error) *soap.Fault {
	if errors.Is(err, ErrTokenSpent) {
		return tokenSpentFault(err)
	}
	// An authenticator that could not decide (its storage failed) says so
	// with its own fault.
	var f *soap.Fault
	if errors.As(err, &f) {
		return f
	}
	if IsRateLimited(err) {
		return soap.NewFault(soap.Authentication, err, "Too many failed sign-in attempts; try again later.")
	}
	return soap.NewFault(soap.Authentication, err, "The credentials were not accepted.")
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
func (*TokenAuth) Policy() store.AuthPolicy { return PolicyFederated }

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
	// MS-MDE2 writes the encoding "...#base64binary"; WS-Security's own
	// spelling is "...#Base64Binary", and some clients send none: a
	// compact JWT is taken as is, anything else as base64.
	base64Encoded := strings.HasSuffix(strings.ToLower(t.EncodingType), "#base64binary") ||
		(t.EncodingType == "" && strings.Count(token, ".") != 2)
	if base64Encoded {
		raw, err := base64.StdEncoding.DecodeString(stripSpace(token))
		if err != nil {
			return "", fmt.Errorf("token is not base64: %v", err)
		}
		token = string(raw)
	}
	if sp, ok := a.Verifier.(TokenSpender); ok && c.Action == soap.ActionRequestToken {
		return sp.SpendToken(ctx, token)
	}
	return a.Verifier.VerifyToken(ctx, token)
}

// HMACTokenVerifier verifies tokens minted by package fedtoken. With a
// Ledger, each token enrolls once (TokenSpender).
type HMACTokenVerifier struct {
	Secret []byte
	Now    func() time.Time
	// Ledger records spent tokens; nil for tokens usable until they expire.
	Ledger *fedtoken.Ledger
}

// VerifyToken implements TokenVerifier: a spent token is refused with
// ErrTokenSpent.
func (v HMACTokenVerifier) VerifyToken(ctx context.Context, token string) (string, error) {
	c, err := fedtoken.Verify(v.Secret, token, v.Now())
	if err != nil {
		return "", err
	}
	if v.Ledger != nil {
		spent, err := v.Ledger.Spent(ctx, c)
		if err != nil {
			return "", ledgerFault(err)
		}
		if spent {
			return "", fmt.Errorf("%w (user %q)", ErrTokenSpent, c.User)
		}
	}
	return c.User, nil
}

// CertificateAuth is the Certificate policy: the device presents, in the
// TLS handshake, a client certificate issued by one of the trusted CAs.
type CertificateAuth struct {
	Roots *x509.CertPool
	Now   func() time.Time
}

// Policy implements Authenticator.
func (*CertificateAuth) Policy() store.AuthPolicy { return PolicyCertificate }

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
