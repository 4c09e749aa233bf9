package fedtoken

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMintVerify(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	now := time.Unix(1_800_000_000, 0)
	tok, err := Mint(secret, "alice@contoso.com", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	user, err := Verify(secret, tok, now.Add(59*time.Minute))
	if err != nil || user != "alice@contoso.com" {
		t.Fatalf("Verify = %q, %v", user, err)
	}
	if _, err := Verify(secret, tok, now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	if _, err := Verify([]byte(strings.Repeat("x", 32)), tok, now); !errors.Is(err, ErrSignature) {
		t.Errorf("other secret: %v", err)
	}
	forged := tok[:len(tok)-2] + "AA"
	if _, err := Verify(secret, forged, now); err == nil {
		t.Error("forged MAC accepted")
	}
	for _, bad := range []string{"", "v1.x", "v2.a.b", strings.Repeat("a", 5000)} {
		if _, err := Verify(secret, bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := Mint([]byte("short"), "u", time.Hour, now); err == nil {
		t.Error("short secret accepted")
	}
}
