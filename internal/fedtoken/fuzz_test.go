package fedtoken

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzVerify feeds Verify the tokens a device sends back: minted tokens and
// mutations of them, and, so that the fuzzer reaches the payload decoding
// behind the MAC, arbitrary payloads under a valid MAC. Whatever the input:
// no panic, a user exactly when there is no error, every error one of
// ErrMalformed, ErrSignature, ErrExpired; a payload under a valid MAC never
// fails the signature check; a minted token verifies to its user.
func FuzzVerify(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, user := range []string{"demo@mdmwindows.com", "demio"} {
		tok, err := Mint(secret, user, time.Hour, now)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok, []byte(`{"sub":"`+user+`","exp":1704070800}`), user)
	}
	f.Add("v1..", []byte(`{"sub":"","exp":0}`), "")
	f.Fuzz(func(t *testing.T, token string, payload []byte, user string) {
		if len(token)+len(payload)+len(user) > 1<<20 {
			t.Skip()
		}
		check := func(tok string) error {
			t.Helper()
			u, err := Verify(secret, tok, now)
			if (u == "") == (err == nil) {
				t.Fatalf("user %q and error %v", u, err)
			}
			if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrExpired) {
				t.Fatalf("unexpected error %v", err)
			}
			return err
		}
		check(token)
		signed := version + "." + base64.RawURLEncoding.EncodeToString(payload)
		if err := check(signed + "." + base64.RawURLEncoding.EncodeToString(mac(secret, signed))); errors.Is(err, ErrSignature) {
			t.Fatalf("a payload under a valid MAC failed the signature check: %v", err)
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
		if got, err := Verify(secret, tok, now); err != nil || got != user {
			t.Errorf("minted for %q, verified %q, %v", user, got, err)
		}
	})
}
