package entra_test

import (
	"context"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/entra"
)

// FuzzVerify: whatever a device sends as a token, Verify neither panics
// nor accepts it without the test key's signature.
func FuzzVerify(f *testing.F) {
	f.Add(testKey.Sign(v1()))
	f.Add(testKey.Sign(v2()))
	f.Add(unsigned(v1()))
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		v, _, _ := newVerifier(t, testKey)
		id, err := v.Verify(context.Background(), token)
		if err == nil && id == nil {
			t.Fatal("no identity and no error")
		}
		if err != nil && entra.CheckOf(err) == "" {
			t.Fatalf("refusal without a check: %v", err)
		}
	})
}
