package entra

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MaxTokenSize bounds a token before it is parsed (Entra access tokens are
// 1-3 KiB).
const MaxTokenSize = 16 << 10

// DefaultLeeway is the clock skew allowed on exp and nbf.
const DefaultLeeway = 2 * time.Minute

// maxLeeway bounds a configured leeway: more would keep expired tokens alive.
const maxLeeway = 10 * time.Minute

// MDMScope is the delegated permission an MDM application's token carries.
const MDMScope = "mdm_delegation"

// Checks, as Error.Check names them.
const (
	CheckFormat    = "format"
	CheckAlgorithm = "algorithm"
	CheckKey       = "key"
	CheckSignature = "signature"
	CheckExpiry    = "expiry"
	CheckNotBefore = "not_before"
	CheckTenant    = "tenant"
	CheckIssuer    = "issuer"
	CheckAudience  = "audience"
	CheckScope     = "scope"
	CheckClaims    = "claims"
)

// Error is a refused token: the check that refused it and why. It holds no
// part of the token but claim values worth a log line (tenant, issuer,
// audience, kid).
type Error struct {
	Check  string
	Reason string
	// Err is the underlying error, if any (ErrUnknownKey, a fetch failure).
	Err error
}

func (e *Error) Error() string { return "entra token refused (" + e.Check + "): " + e.Reason }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// CheckOf returns the check that refused a token, or "" when err is not
// a refusal.
func CheckOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Check
	}
	return ""
}

func refuse(check, format string, a ...any) error {
	return &Error{Check: check, Reason: fmt.Sprintf(format, a...)}
}

// Identity is who a verified token names.
type Identity struct {
	// TenantID is the tid claim, lower-case.
	TenantID string
	// ObjectID is the user's object ID (oid).
	ObjectID string
	// User is the upn claim, else preferred_username.
	User string
	// Version is "1.0" or "2.0", from the issuer's form.
	Version string
	// Expiry is when the token expires.
	Expiry time.Time
}

// Verifier checks Entra access tokens against a configuration.
type Verifier struct {
	tenants   map[string]bool
	audiences []string
	keys      *KeySet
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ValidTenantID reports whether s is a tenant ID (a GUID, any case).
func ValidTenantID(s string) bool { return IsGUID(s) }

// IsGUID reports whether s is a GUID in its usual form, in any case. Entra
// writes tenant and application IDs in lower case, but a GUID names the
// same thing in any case, so GUIDs compare case-insensitively here.
func IsGUID(s string) bool { return guidRE.MatchString(strings.ToLower(s)) }

// NewVerifier returns a verifier accepting tokens of tenants (tenant IDs,
// GUIDs) for audiences, signed by keys. Both lists must be non-empty: a
// verifier that accepted any tenant would let an attacker's own tenant
// enroll.
func NewVerifier(tenants, audiences []string, keys *KeySet) (*Verifier, error) {
	if len(tenants) == 0 {
		return nil, errors.New("at least one tenant ID is required")
	}
	if len(audiences) == 0 {
		return nil, errors.New("at least one audience (client ID or App ID URI) is required")
	}
	if keys == nil {
		return nil, errors.New("a key set is required")
	}
	v := &Verifier{tenants: map[string]bool{}, keys: keys, Leeway: DefaultLeeway}
	for _, t := range tenants {
		if !ValidTenantID(t) {
			return nil, fmt.Errorf("tenant %q is not a tenant ID (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47; names such as contoso.onmicrosoft.com and \"common\" are not accepted)", t)
		}
		v.tenants[strings.ToLower(t)] = true
	}
	for _, a := range audiences {
		if a == "" {
			return nil, errors.New("empty audience")
		}
		if IsGUID(a) {
			a = strings.ToLower(a)
		}
		v.audiences = append(v.audiences, a)
	}
	return v, nil
}

// SetLeeway sets the clock skew allowed on exp and nbf, at most 10 minutes.
func (v *Verifier) SetLeeway(d time.Duration) error {
	if d < 0 || d > maxLeeway {
		return fmt.Errorf("clock skew %v: want 0 to %v", d, maxLeeway)
	}
	v.Leeway = d
	return nil
}

// Keys returns the verifier's key set.
func (v *Verifier) Keys() *KeySet { return v.keys }

// claims are the parts of an Entra access token the checks read.
type claims struct {
	jwt.Claims
	TenantID          string `json:"tid"`
	ObjectID          string `json:"oid"`
	UPN               string `json:"upn"`
	PreferredUsername string `json:"preferred_username"`
	Scope             string `json:"scp"`
	Version           string `json:"ver"`
}

// maxUserLength bounds the user name taken from a token.
const maxUserLength = 256

// Verify checks a compact JWS token and returns who it names, or an *Error
// naming the first check that refused it.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	token = strings.TrimSpace(token)
	if token == "" || len(token) > MaxTokenSize || strings.Count(token, ".") != 2 {
		return nil, refuse(CheckFormat, "not a compact JWS of at most %d bytes", MaxTokenSize)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		if alg := headerAlg(token); alg != "" && alg != string(jose.RS256) {
			return nil, refuse(CheckAlgorithm, "alg %q: only RS256 is accepted", bound(alg))
		}
		return nil, refuse(CheckFormat, "not a signed JWT: %v", err)
	}
	if len(tok.Headers) != 1 {
		return nil, refuse(CheckFormat, "%d signatures, want 1", len(tok.Headers))
	}
	h := tok.Headers[0]
	if h.Algorithm != string(jose.RS256) {
		return nil, refuse(CheckAlgorithm, "alg %q: only RS256 is accepted", bound(h.Algorithm))
	}
	kid := h.KeyID
	if kid == "" {
		// v1 tokens name their key by x5t too; Microsoft's kid equals it.
		if x5t, ok := h.ExtraHeaders["x5t"].(string); ok {
			kid = x5t
		}
	}
	if kid == "" {
		return nil, refuse(CheckKey, "the token names no key (kid)")
	}
	key, err := v.keys.Key(ctx, kid)
	if err != nil {
		return nil, &Error{Check: CheckKey, Reason: fmt.Sprintf("kid %q: %v", bound(kid), err), Err: err}
	}
	var c claims
	if err := tok.Claims(key, &c); err != nil {
		return nil, refuse(CheckSignature, "the signature does not verify with key %q", bound(kid))
	}
	return v.check(&c)
}

// check applies the claim checks, in the package's order.
func (v *Verifier) check(c *claims) (*Identity, error) {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	if c.Expiry == nil {
		return nil, refuse(CheckExpiry, "the token has no exp")
	}
	if exp := c.Expiry.Time(); now.Add(-v.Leeway).After(exp) {
		return nil, refuse(CheckExpiry, "expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if c.NotBefore != nil {
		if nbf := c.NotBefore.Time(); now.Add(v.Leeway).Before(nbf) {
			return nil, refuse(CheckNotBefore, "not valid before %s", nbf.UTC().Format(time.RFC3339))
		}
	}
	tid := strings.ToLower(c.TenantID)
	if !v.tenants[tid] {
		return nil, refuse(CheckTenant, "tenant %q is not one of the configured tenants", bound(c.TenantID))
	}
	// The tenant GUID in the issuer may be in any case (EqualFold: the
	// rest of either issuer is a fixed, case-insensitive host and path).
	version := ""
	switch {
	case strings.EqualFold(c.Issuer, "https://sts.windows.net/"+tid+"/"):
		version = "1.0"
	case strings.EqualFold(c.Issuer, "https://login.microsoftonline.com/"+tid+"/v2.0"):
		version = "2.0"
	default:
		return nil, refuse(CheckIssuer, "issuer %q is not Entra's v1 or v2 issuer of tenant %s", bound(c.Issuer), tid)
	}
	if c.Version != "" && c.Version != version {
		return nil, refuse(CheckIssuer, "issuer %q is a v%s issuer but the token says ver %q", bound(c.Issuer), version, bound(c.Version))
	}
	if !v.audienceOK(c.Audience) {
		return nil, refuse(CheckAudience, "audience %q is not a configured audience", bound(strings.Join(c.Audience, " ")))
	}
	if !hasScope(c.Scope, MDMScope) {
		return nil, refuse(CheckScope, "scp %q lacks %s", bound(c.Scope), MDMScope)
	}
	user := c.UPN
	if user == "" {
		user = c.PreferredUsername
	}
	if user == "" || len(user) > maxUserLength || c.ObjectID == "" || len(c.ObjectID) > maxUserLength {
		return nil, refuse(CheckClaims, "the token names no user (upn or preferred_username) or object ID (oid)")
	}
	return &Identity{TenantID: tid, ObjectID: strings.ToLower(c.ObjectID), User: user, Version: version, Expiry: c.Expiry.Time()}, nil
}

// audienceOK reports whether aud holds a configured audience: a GUID
// (a client ID, stored lower-case) in any case, any other value (an
// Application ID URI) exactly.
func (v *Verifier) audienceOK(aud jwt.Audience) bool {
	for _, a := range aud {
		if IsGUID(a) {
			a = strings.ToLower(a)
		}
		for _, want := range v.audiences {
			if a == want {
				return true
			}
		}
	}
	return false
}

func hasScope(scp, want string) bool {
	for _, s := range strings.Fields(scp) {
		if s == want {
			return true
		}
	}
	return false
}

// headerAlg reads the alg of a token's header without trusting it, only
// to name the algorithm of a refused token.
func headerAlg(token string) string {
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.Alg
}

// bound shortens a claim value for an error message.
func bound(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
