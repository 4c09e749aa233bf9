package caddymdm

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
)

// TestMixedPasswordHashes: one on_premise block may hold bcrypt and
// argon2id users (an admin migrating one user at a time); the config
// provisions, both users sign in, and unknown users are compared with a
// dummy of one of the configured algorithms at its highest cost.
func TestMixedPasswordHashes(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("bcrypt-password"), 5)
	if err != nil {
		t.Fatal(err)
	}
	cfg := adaptSnippet(t, `{
	mdm {
		auth on_premise {
			user alice@contoso.com `+string(bc)+`
			user bob@contoso.com `+testArgon2idHash+`
		}
	}
}
enterpriseenrollment.example.com {
	tls internal
	mdm
}`)
	if err := validate(t, cfg); err != nil {
		t.Fatalf("mixed bcrypt and argon2id users: %v", err)
	}
	raw, _ := json.Marshal(cfg["apps"].(map[string]any)["mdm"].(map[string]any)["auth"])
	var ac AuthConfig
	if err := json.Unmarshal(raw, &ac); err != nil {
		t.Fatal(err)
	}
	auth, err := ac.authenticator()
	if err != nil {
		t.Fatal(err)
	}
	pa := auth.(*enroll.PasswordAuth)
	ctx := context.Background()
	for user, pw := range map[string]string{"alice@contoso.com": "bcrypt-password", "BOB@contoso.com": "demo-password"} {
		if got, err := pa.Authenticate(ctx, enroll.Credentials{Username: user, Password: pw}); err != nil || got != user {
			t.Errorf("%s: %q %v", user, got, err)
		}
	}
	for user, pw := range map[string]string{"alice@contoso.com": "demo-password", "bob@contoso.com": "bcrypt-password", "carol@contoso.com": "demo-password"} {
		if _, err := pa.Authenticate(ctx, enroll.Credentials{Username: user, Password: pw}); err == nil {
			t.Errorf("%s with a wrong password accepted", user)
		}
	}
	dummy := string(pa.DummyHash())
	switch {
	case strings.HasPrefix(dummy, "$argon2id$"):
		if want := strings.Join(strings.Split(testArgon2idHash, "$")[:4], "$") + "$"; !strings.HasPrefix(dummy, want) {
			t.Errorf("argon2id dummy %q lacks the configured parameters %q", dummy, want)
		}
	default:
		if c, err := bcrypt.Cost([]byte(dummy)); err != nil || c != 5 {
			t.Errorf("dummy %q: bcrypt cost %d (%v), want 5", dummy, c, err)
		}
	}
}
