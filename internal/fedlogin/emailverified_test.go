package fedlogin

import (
	"testing"
	"time"
)

// email_verified: only true or "true" passes when present; a missing one
// passes (Entra ID never sends it), as the README says.
func TestAuthorizeEmailVerified(t *testing.T) {
	f, err := newOIDCFlow(&OIDCConfig{Issuer: "https://idp.example", ClientID: "c"}, testKey, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{true, "true", "TRUE"} {
		if _, err := f.authorize(map[string]any{"email": "bob@contoso.com", "email_verified": v}); err != nil {
			t.Errorf("email_verified %#v refused: %v", v, err)
		}
	}
	if _, err := f.authorize(map[string]any{"email": "bob@contoso.com"}); err != nil {
		t.Errorf("no email_verified refused: %v", err)
	}
	for _, v := range []any{false, "false", "False", "", "yes", nil, 1.0, 0.0, []any{true}} {
		if _, err := f.authorize(map[string]any{"email": "bob@contoso.com", "email_verified": v}); err == nil {
			t.Errorf("email_verified %#v accepted", v)
		}
	}
}
