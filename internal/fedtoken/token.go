// Package fedtoken mints and verifies the security tokens of federated
// enrollment: the login page (AuthenticationServiceUrl) hands one to the
// device after sign-in, and the device sends it back as the
// BinarySecurityToken of GetPolicies and RequestSecurityToken.
//
// A token is "v1.<payload>.<mac>": the payload is base64url JSON naming the
// user and the expiry, the MAC is HMAC-SHA256 over "v1.<payload>" with a
// server secret. Tokens are bearer credentials: never log one.
package fedtoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MinSecretLength is the shortest accepted HMAC secret, in bytes.
const MinSecretLength = 32

// maxTokenLength bounds what Verify reads.
const maxTokenLength = 4096

const version = "v1"

type payload struct {
	User    string `json:"sub"`
	Expires int64  `json:"exp"`
}

// Errors returned by Verify.
var (
	ErrMalformed = errors.New("malformed enrollment token")
	ErrSignature = errors.New("enrollment token signature does not verify")
	ErrExpired   = errors.New("enrollment token expired")
)

// Mint returns a token for user, valid until now+ttl.
func Mint(secret []byte, user string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretLength {
		return "", fmt.Errorf("token secret must be at least %d bytes", MinSecretLength)
	}
	if user == "" {
		return "", errors.New("token needs a user")
	}
	p, err := json.Marshal(payload{User: user, Expires: now.Add(ttl).Unix()})
	if err != nil {
		return "", err
	}
	signed := version + "." + base64.RawURLEncoding.EncodeToString(p)
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac(secret, signed)), nil
}

// Verify checks a token's MAC and expiry and returns its user.
func Verify(secret []byte, token string, now time.Time) (string, error) {
	if len(token) > maxTokenLength {
		return "", ErrMalformed
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != version {
		return "", ErrMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", ErrMalformed
	}
	if !hmac.Equal(sig, mac(secret, parts[0]+"."+parts[1])) {
		return "", ErrSignature
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", ErrMalformed
	}
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil || p.User == "" {
		return "", ErrMalformed
	}
	if now.Unix() >= p.Expires {
		return "", ErrExpired
	}
	return p.User, nil
}

func mac(secret []byte, s string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(s))
	return h.Sum(nil)
}
