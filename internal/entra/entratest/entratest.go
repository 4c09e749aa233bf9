// Package entratest mints Entra ID-shaped access tokens with a test RSA
// key and serves that key as a JWKS, for the tests of the entra package,
// the enrollment service and the end-to-end suite. Nothing here is used by
// the server.
package entratest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is a test signing key and its kid.
type Key struct {
	ID      string
	Private *rsa.PrivateKey
}

// NewKey makes a 2048-bit RSA key named kid.
func NewKey(kid string) *Key {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return &Key{ID: kid, Private: k}
}

// JWKS is a key set document holding the public halves of keys, shaped
// like Microsoft's (kty, use, kid, n, e).
func JWKS(keys ...*Key) []byte {
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.Private.PublicKey, KeyID: k.ID, Use: "sig", Algorithm: string(jose.RS256)})
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

// Sign makes a compact RS256 JWS of claims, with kid in the header.
func (k *Key) Sign(claims map[string]any) string {
	return SignWith(jose.RS256, jose.JSONWebKey{Key: k.Private, KeyID: k.ID}, claims)
}

// SignWith signs claims with any algorithm and key (for refusal tests:
// HS256 with a public key as the secret, and so on).
func SignWith(alg jose.SignatureAlgorithm, key jose.JSONWebKey, claims map[string]any) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		panic(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}

// Claims are the claims of an Entra access token for the MDM application.
type Claims map[string]any

// V1 returns the claims of a v1 access token: issuer sts.windows.net,
// audience the App ID URI, the user in upn, valid for an hour from now.
func V1(tenant, appIDURI, upn string, now time.Time) Claims {
	return Claims{
		"aud": appIDURI, "iss": "https://sts.windows.net/" + tenant + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"tid": tenant, "oid": "0d9f5a3e-7c1b-4e8a-9f2d-6b4c3a1e0f57", "upn": upn, "unique_name": upn,
		"scp": "mdm_delegation", "ver": "1.0", "appid": "29d9ed98-a469-4536-ade2-f981bc1d605e",
	}
}

// V2 returns the claims of a v2 access token: issuer
// login.microsoftonline.com/<tid>/v2.0, audience the client ID, the user in
// preferred_username, valid for an hour from now.
func V2(tenant, clientID, user string, now time.Time) Claims {
	return Claims{
		"aud": clientID, "iss": "https://login.microsoftonline.com/" + tenant + "/v2.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"tid": tenant, "oid": "5b2e8c4d-1a7f-4d3e-8b6c-9e0a2f4d7c13", "preferred_username": user,
		"scp": "mdm_delegation", "ver": "2.0", "azp": "29d9ed98-a469-4536-ade2-f981bc1d605e",
	}
}

// With returns a copy of c with key set to value (nil deletes it).
func (c Claims) With(key string, value any) Claims {
	out := Claims{}
	for k, v := range c {
		out[k] = v
	}
	if value == nil {
		delete(out, key)
	} else {
		out[key] = value
	}
	return out
}
