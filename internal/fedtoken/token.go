// Package fedtoken mints and verifies the security tokens of federated
// enrollment: the login page (AuthenticationServiceUrl) hands one to the
// device after sign-in, as the wresult field it posts to the appru URL, and
// the device sends it back as the BinarySecurityToken of GetPolicies and
// RequestSecurityToken.
//
// A token is a JWT signed with HMAC-SHA256 (HS256) under a server secret,
// made and checked by go-jose: iss "caddy-mdm", aud
// "caddy-mdm-enrollment", sub the user, a random jti, iat, nbf and exp. Any
// JWT library can mint one for a login page elsewhere that shares the
// secret. Tokens are short-lived (MaxLifetime at most) and, with a Ledger,
// enroll once. They are bearer credentials: never log one.
package fedtoken

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MinSecretLength is the shortest accepted HMAC secret, in bytes.
const MinSecretLength = 32

// Issuer and Audience are the iss and aud every token carries.
const (
	Issuer   = "caddy-mdm"
	Audience = "caddy-mdm-enrollment"
)

// DefaultLifetime is how long a token is valid unless configured;
// MaxLifetime bounds any token's exp - iat, minted here or elsewhere: a
// token is handed to the device's web view and used within a minute.
const (
	DefaultLifetime = 10 * time.Minute
	MaxLifetime     = time.Hour
)

// leeway is the clock skew allowed between the nodes minting and checking.
const leeway = 30 * time.Second

// maxTokenLength bounds what Verify parses.
const maxTokenLength = 4096

// Errors returned by Verify.
var (
	ErrMalformed = errors.New("malformed enrollment token")
	ErrSignature = errors.New("enrollment token signature does not verify")
	ErrExpired   = errors.New("enrollment token expired")
)

// Claims is what a verified token says.
type Claims struct {
	// User is the signed-in user (sub): the enrollment's owner.
	User string
	// ID is the token's unique ID (jti), the key of its spent record.
	ID string
	// Expires is when the token stops being valid (exp).
	Expires time.Time
}

// Mint returns a token for user, valid from now until now+ttl.
func Mint(secret []byte, user string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretLength {
		return "", fmt.Errorf("token secret must be at least %d bytes", MinSecretLength)
	}
	if user == "" {
		return "", errors.New("token needs a user")
	}
	if ttl <= 0 || ttl > MaxLifetime {
		return "", fmt.Errorf("token lifetime %v: want more than 0 and at most %v", ttl, MaxLifetime)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer:    Issuer,
		Audience:  jwt.Audience{Audience},
		Subject:   user,
		ID:        hex.EncodeToString(id),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(ttl)),
	}).Serialize()
}

// Verify checks a token's signature (HS256 only), issuer, audience and
// times, and returns its claims. Every error wraps ErrMalformed,
// ErrSignature or ErrExpired.
func Verify(secret []byte, token string, now time.Time) (Claims, error) {
	if len(token) > maxTokenLength || strings.Count(token, ".") != 2 {
		return Claims{}, ErrMalformed
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var c jwt.Claims
	if err := tok.Claims(secret, &c); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return Claims{}, ErrSignature
		}
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case c.Subject == "" || c.ID == "" || c.Expiry == nil || c.IssuedAt == nil:
		return Claims{}, fmt.Errorf("%w: sub, jti, iat and exp are required", ErrMalformed)
	case c.Expiry.Time().Sub(c.IssuedAt.Time()) > MaxLifetime:
		return Claims{}, fmt.Errorf("%w: lifetime over %v", ErrMalformed, MaxLifetime)
	}
	err = c.ValidateWithLeeway(jwt.Expected{Issuer: Issuer, AnyAudience: jwt.Audience{Audience}, Time: now}, leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired), errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return Claims{}, fmt.Errorf("%w: %v", ErrExpired, err)
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return Claims{User: c.Subject, ID: c.ID, Expires: c.Expiry.Time()}, nil
}
