package fedtoken

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

var testSecret = []byte(strings.Repeat("k", 32))

func TestMintVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, err := Mint(testSecret, "alice@contoso.com", 10*time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(testSecret, tok, now.Add(9*time.Minute))
	if err != nil || c.User != "alice@contoso.com" || c.ID == "" || !c.Expires.Equal(now.Add(10*time.Minute)) {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	again, _ := Mint(testSecret, "alice@contoso.com", 10*time.Minute, now)
	if again == tok {
		t.Error("two tokens minted at once are identical: one would spend the other")
	}
	if _, err := Verify(testSecret, tok, now.Add(11*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	if _, err := Verify(testSecret, tok, now.Add(-time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("not yet valid: %v", err)
	}
	if _, err := Verify([]byte(strings.Repeat("x", 32)), tok, now); !errors.Is(err, ErrSignature) {
		t.Errorf("other secret: %v", err)
	}
	for _, bad := range []string{"", "v1.x", "a.b.c", strings.Repeat("a", 5000), tok + "x"} {
		if _, err := Verify(testSecret, bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := Mint([]byte("short"), "u", time.Minute, now); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := Mint(testSecret, "u", 2*time.Hour, now); err == nil {
		t.Error("a two-hour token minted")
	}
}

// sign makes a token with any claims and algorithm, as another minter could.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, claims any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestVerifyRefuses: a token failing exactly one rule is refused.
func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := func() jwt.Claims {
		return jwt.Claims{Issuer: Issuer, Audience: jwt.Audience{Audience}, Subject: "bob", ID: "1",
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}
	}
	if _, err := Verify(testSecret, sign(t, jose.HS256, testSecret, good()), now); err != nil {
		t.Fatalf("the good token: %v", err)
	}
	for name, mod := range map[string]func(*jwt.Claims){
		"other issuer":   func(c *jwt.Claims) { c.Issuer = "someone" },
		"other audience": func(c *jwt.Claims) { c.Audience = jwt.Audience{"x"} },
		"no subject":     func(c *jwt.Claims) { c.Subject = "" },
		"no jti":         func(c *jwt.Claims) { c.ID = "" },
		"no expiry":      func(c *jwt.Claims) { c.Expiry = nil },
		"long-lived":     func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(2 * time.Hour)) },
	} {
		c := good()
		mod(&c)
		if _, err := Verify(testSecret, sign(t, jose.HS256, testSecret, c), now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	long := []byte(strings.Repeat("k", 64))
	if _, err := Verify(long, sign(t, jose.HS512, long, good()), now); err == nil {
		t.Error("HS512 accepted: only HS256 is")
	}
	// alg none: a header and payload with an empty signature.
	parts := strings.Split(sign(t, jose.HS256, testSecret, good()), ".")
	hdr, _ := json.Marshal(map[string]string{"alg": "none"})
	none := base64.RawURLEncoding.EncodeToString(hdr) + "." + parts[1] + "."
	if _, err := Verify(testSecret, none, now); err == nil {
		t.Error("alg none accepted")
	}
}
