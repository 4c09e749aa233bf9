package fedtoken

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
)

// FuzzVerify feeds Verify the tokens a device sends back: minted tokens and
// mutations of them, and, so that the fuzzer reaches the claims decoding
// behind the signature, arbitrary payloads signed with the secret.
// Whatever the input: no panic, claims with a user exactly when there is no
// error, every error one of ErrMalformed, ErrSignature, ErrExpired; a
// payload signed with the secret never fails the signature check; a minted
// token verifies to its user.
func FuzzVerify(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, user := range []string{"demo@mdmwindows.com", "demio"} {
		tok, err := Mint(secret, user, time.Hour, now)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok, []byte(`{"iss":"caddy-mdm","aud":"caddy-mdm-enrollment","sub":"`+user+`","jti":"1","iat":1704067200,"exp":1704070800}`), user)
	}
	f.Add("a..", []byte(`{"sub":"","exp":0}`), "")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string, payload []byte, user string) {
		if len(token)+len(payload)+len(user) > 1<<20 {
			t.Skip()
		}
		check := func(tok string) error {
			t.Helper()
			c, err := Verify(secret, tok, now)
			if (c.User == "") == (err == nil) {
				t.Fatalf("claims %+v and error %v", c, err)
			}
			if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrExpired) {
				t.Fatalf("unexpected error %v", err)
			}
			return err
		}
		check(token)
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		if err := check(signed); errors.Is(err, ErrSignature) {
			t.Fatalf("a payload signed with the secret failed the signature check: %v", err)
		}
		if user == "" || !utf8.ValidString(user) {
			return
		}
		tok, err := Mint(secret, user, time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) > maxTokenLength {
			return
		}
		if c, err := Verify(secret, tok, now); err != nil || c.User != user {
			t.Errorf("minted for %q, verified %q, %v", user, c.User, err)
		}
	})
}
