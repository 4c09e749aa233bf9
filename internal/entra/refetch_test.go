package entra_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/entra"
	"github.com/caddy-mdm/caddy-mdm/internal/entra/entratest"
)

// A forged kid does not use up the refetch a newly published key needs:
// the token of a key published right after it is accepted.
func TestForgedKidLeavesRefetchForRolledKey(t *testing.T) {
	v, ck, _ := newVerifier(t, testKey)
	if _, err := v.Verify(context.Background(), testKey.Sign(v1())); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), entratest.NewKey("forged").Sign(v1())); entra.CheckOf(err) != entra.CheckKey {
		t.Fatalf("forged kid: %v", err)
	}
	rolled := entratest.NewKey("key-2")
	doc := entratest.JWKS(testKey, rolled)
	ck.doc.Store(&doc)
	if _, err := v.Verify(context.Background(), rolled.Sign(v1())); err != nil {
		t.Fatalf("token of a key published after a forged kid: %v", err)
	}
}

// A flood of distinct forged kids costs at most MaxRefetches fetches per
// period, and as many again in the next one.
func TestForgedKidFloodIsBounded(t *testing.T) {
	v, ck, clock := newVerifier(t, testKey)
	if _, err := v.Verify(context.Background(), testKey.Sign(v1())); err != nil {
		t.Fatal(err)
	}
	flood := func() {
		for i := 0; i < 50; i++ {
			tok := entratest.NewKey(fmt.Sprintf("forged-%d-%d", clock.Unix(), i)).Sign(v1().With("exp", clock.Add(time.Hour).Unix()))
			if _, err := v.Verify(context.Background(), tok); entra.CheckOf(err) != entra.CheckKey {
				t.Fatalf("forged kid: %v", err)
			}
		}
	}
	flood()
	if n := ck.fetches.Load(); n != 1+entra.MaxRefetches {
		t.Fatalf("%d fetches after 50 forged kids, want %d", n, 1+entra.MaxRefetches)
	}
	*clock = clock.Add(entra.DefaultMinRefetch)
	flood()
	if n := ck.fetches.Load(); n != 1+2*entra.MaxRefetches {
		t.Fatalf("%d fetches after a second period, want %d", n, 1+2*entra.MaxRefetches)
	}
}

// Client IDs and tenant IDs are GUIDs: a configuration and tokens that
// write them in upper case verify like lower-case ones (v1 and v2).
func TestGUIDsCompareInAnyCase(t *testing.T) {
	ks := entra.NewStaticKeySet(entratest.JWKS(testKey))
	ks.Now = func() time.Time { return now }
	upper := strings.ToUpper
	v, err := entra.NewVerifier([]string{upper(tenant)}, []string{upper(clientID), appIDURI}, ks)
	if err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return now }
	for name, c := range map[string]entratest.Claims{
		"v2 lower":          v2(),
		"v2 upper aud":      v2().With("aud", upper(clientID)),
		"v2 upper tid, iss": entratest.V2(upper(tenant), clientID, "grace@contoso.com", now),
		"v1 upper tid, iss": entratest.V1(upper(tenant), appIDURI, "ada@contoso.com", now),
	} {
		id, err := v.Verify(context.Background(), testKey.Sign(c))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if id.TenantID != tenant {
			t.Errorf("%s: tenant %q, want lower case", name, id.TenantID)
		}
	}
	// An App ID URI is not a GUID: it still compares exactly.
	if _, err := v.Verify(context.Background(), testKey.Sign(v1().With("aud", strings.ToUpper(appIDURI)))); entra.CheckOf(err) != entra.CheckAudience {
		t.Errorf("App ID URI in another case: %v", err)
	}
}
