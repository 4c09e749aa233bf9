package entra_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-mdm/caddy-mdm/internal/entra"
	"github.com/caddy-mdm/caddy-mdm/internal/entra/entratest"
)

const (
	tenant   = "8a3c1b2d-4e5f-4a6b-9c7d-0e1f2a3b4c5d"
	other    = "11111111-2222-4333-8444-555555555555"
	clientID = "c0ffee00-1234-4abc-8def-0123456789ab"
	appIDURI = "https://enterpriseenrollment.contoso.com"
)

var (
	now     = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	testKey = entratest.NewKey("key-1")
)

// countingKeys serves a JWKS that the test can swap, counting fetches.
type countingKeys struct {
	doc     atomic.Pointer[[]byte]
	fetches atomic.Int32
}

func newVerifier(t *testing.T, keys ...*entratest.Key) (*entra.Verifier, *countingKeys, *time.Time) {
	t.Helper()
	ck := &countingKeys{}
	doc := entratest.JWKS(keys...)
	ck.doc.Store(&doc)
	clock := now
	ks := entra.NewFuncKeySet("test", func(context.Context) ([]byte, error) { ck.fetches.Add(1); return *ck.doc.Load(), nil })
	ks.Now = func() time.Time { return clock }
	v, err := entra.NewVerifier([]string{tenant}, []string{clientID, appIDURI}, ks)
	if err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return clock }
	return v, ck, &clock
}

func v1() entratest.Claims { return entratest.V1(tenant, appIDURI, "ada@contoso.com", now) }
func v2() entratest.Claims { return entratest.V2(tenant, clientID, "grace@contoso.com", now) }

func TestAcceptsV1AndV2(t *testing.T) {
	v, _, _ := newVerifier(t, testKey)
	id, err := v.Verify(context.Background(), testKey.Sign(v1()))
	if err != nil {
		t.Fatal(err)
	}
	if id.User != "ada@contoso.com" || id.TenantID != tenant || id.Version != "1.0" || id.ObjectID == "" {
		t.Fatalf("v1 identity %+v", id)
	}
	id, err = v.Verify(context.Background(), testKey.Sign(v2()))
	if err != nil {
		t.Fatal(err)
	}
	if id.User != "grace@contoso.com" || id.Version != "2.0" {
		t.Fatalf("v2 identity %+v", id)
	}
	// upn wins over preferred_username.
	id, err = v.Verify(context.Background(), testKey.Sign(v2().With("upn", "upn@contoso.com")))
	if err != nil || id.User != "upn@contoso.com" {
		t.Fatalf("upn: %+v %v", id, err)
	}
	// Tenant IDs compare without regard to case.
	id, err = v.Verify(context.Background(), testKey.Sign(entratest.V1(strings.ToUpper(tenant), appIDURI, "ada@contoso.com", now).
		With("iss", "https://sts.windows.net/"+tenant+"/")))
	if err != nil || id.TenantID != tenant {
		t.Fatalf("upper-case tid: %+v %v", id, err)
	}
}

// Each case fails exactly one check of a token that is otherwise valid.
func TestRefusesEachCheck(t *testing.T) {
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&testKey.Private.PublicKey))})
	forger := entratest.NewKey("key-1") // same kid, another key
	cases := []struct {
		name, check string
		token       string
	}{
		{"wrong signature", entra.CheckSignature, forger.Sign(v1())},
		{"tampered payload", entra.CheckSignature, tamper(testKey.Sign(v1()), testKey.Sign(v1().With("upn", "mallory@contoso.com")))},
		{"alg none", entra.CheckAlgorithm, unsigned(v1())},
		{"HS256 with the public key as secret", entra.CheckAlgorithm,
			entratest.SignWith(jose.HS256, jose.JSONWebKey{Key: pubPEM, KeyID: "key-1"}, v1())},
		{"RS512", entra.CheckAlgorithm, entratest.SignWith(jose.RS512, jose.JSONWebKey{Key: testKey.Private, KeyID: "key-1"}, v1())},
		{"unknown kid", entra.CheckKey, entratest.NewKey("key-unknown").Sign(v1())},
		{"no kid", entra.CheckKey, entratest.SignWith(jose.RS256, jose.JSONWebKey{Key: testKey.Private}, v1())},
		{"expired", entra.CheckExpiry, testKey.Sign(v1().With("exp", now.Add(-3*time.Minute).Unix()))},
		{"no exp", entra.CheckExpiry, testKey.Sign(v1().With("exp", nil))},
		{"nbf in the future", entra.CheckNotBefore, testKey.Sign(v1().With("nbf", now.Add(3*time.Minute).Unix()))},
		{"other tenant", entra.CheckTenant, testKey.Sign(entratest.V1(other, appIDURI, "eve@evil.example", now))},
		{"other tenant v2", entra.CheckTenant, testKey.Sign(entratest.V2(other, clientID, "eve@evil.example", now))},
		{"no tenant", entra.CheckTenant, testKey.Sign(v1().With("tid", nil))},
		{"v1 issuer of another tenant", entra.CheckIssuer, testKey.Sign(v1().With("iss", "https://sts.windows.net/"+other+"/"))},
		{"v2 issuer of another tenant", entra.CheckIssuer, testKey.Sign(v2().With("iss", "https://login.microsoftonline.com/"+other+"/v2.0"))},
		{"v1 issuer without trailing slash", entra.CheckIssuer, testKey.Sign(v1().With("iss", "https://sts.windows.net/"+tenant))},
		{"v2 issuer over http", entra.CheckIssuer, testKey.Sign(v2().With("iss", "http://login.microsoftonline.com/"+tenant+"/v2.0"))},
		{"foreign issuer", entra.CheckIssuer, testKey.Sign(v1().With("iss", "https://evil.example/"+tenant+"/"))},
		{"v2 issuer on a v1 token", entra.CheckIssuer, testKey.Sign(v1().With("iss", "https://login.microsoftonline.com/"+tenant+"/v2.0"))},
		{"wrong audience v1", entra.CheckAudience, testKey.Sign(v1().With("aud", "https://graph.microsoft.com"))},
		{"wrong audience v2", entra.CheckAudience, testKey.Sign(v2().With("aud", "00000003-0000-0000-c000-000000000000"))},
		{"no mdm_delegation", entra.CheckScope, testKey.Sign(v1().With("scp", "user_impersonation User.Read"))},
		{"scope lookalike", entra.CheckScope, testKey.Sign(v1().With("scp", "mdm_delegation_x"))},
		{"no user", entra.CheckClaims, testKey.Sign(v1().With("upn", nil).With("unique_name", nil))},
		{"no oid", entra.CheckClaims, testKey.Sign(v1().With("oid", nil))},
		{"not a JWT", entra.CheckFormat, "not-a-token"},
		{"oversized", entra.CheckFormat, strings.Repeat("a", entra.MaxTokenSize) + ".b.c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, _, _ := newVerifier(t, testKey)
			id, err := v.Verify(context.Background(), c.token)
			if err == nil {
				t.Fatalf("accepted: %+v", id)
			}
			if got := entra.CheckOf(err); got != c.check {
				t.Fatalf("refused by %q, want %q: %v", got, c.check, err)
			}
		})
	}
}

func TestLeewayAllowsSmallSkew(t *testing.T) {
	v, _, _ := newVerifier(t, testKey)
	if _, err := v.Verify(context.Background(), testKey.Sign(v1().With("exp", now.Add(-time.Minute).Unix()))); err != nil {
		t.Fatalf("expired a minute ago, within the skew: %v", err)
	}
	if _, err := v.Verify(context.Background(), testKey.Sign(v1().With("nbf", now.Add(time.Minute).Unix()))); err != nil {
		t.Fatalf("valid in a minute, within the skew: %v", err)
	}
	if err := v.SetLeeway(time.Hour); err == nil {
		t.Fatal("an hour of skew accepted")
	}
}

// A rolled-over key is found by refetching once; a stream of unknown kids
// causes no more than one fetch per MinRefetch.
func TestUnknownKidRefetchesOnce(t *testing.T) {
	v, ck, clock := newVerifier(t, testKey)
	if _, err := v.Verify(context.Background(), testKey.Sign(v1())); err != nil {
		t.Fatal(err)
	}
	if n := ck.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for the first token, want 1", n)
	}
	rolled := entratest.NewKey("key-2")
	doc := entratest.JWKS(testKey, rolled)
	ck.doc.Store(&doc)
	if _, err := v.Verify(context.Background(), rolled.Sign(v1())); err != nil {
		t.Fatalf("token of the rolled-over key: %v", err)
	}
	if n := ck.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the new kid, want 2", n)
	}
	for i := 0; i < 5; i++ {
		_, err := v.Verify(context.Background(), entratest.NewKey("forged").Sign(v1()))
		if entra.CheckOf(err) != entra.CheckKey || !errors.Is(err, entra.ErrUnknownKey) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if n := ck.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after one forged kid five times, want 3 (one per kid per period)", n)
	}
	*clock = clock.Add(entra.DefaultMinRefetch + time.Second)
	_, _ = v.Verify(context.Background(), entratest.NewKey("forged").Sign(v1().With("exp", clock.Add(time.Hour).Unix())))
	if n := ck.fetches.Load(); n != 4 {
		t.Fatalf("%d fetches once the refetch period passed, want 4", n)
	}
	// Known keys need no fetch; a stale set is refreshed.
	*clock = clock.Add(entra.DefaultRefresh)
	if _, err := v.Verify(context.Background(), testKey.Sign(entratest.V1(tenant, appIDURI, "ada@contoso.com", *clock))); err != nil {
		t.Fatal(err)
	}
	if n := ck.fetches.Load(); n != 5 {
		t.Fatalf("%d fetches after a day, want 5 (refresh)", n)
	}
}

func TestNewVerifierRefusesOpenConfigurations(t *testing.T) {
	ks := entra.NewStaticKeySet(entratest.JWKS(testKey))
	for name, args := range map[string][2][]string{
		"no tenant":   {nil, {clientID}},
		"common":      {{"common"}, {clientID}},
		"domain name": {{"contoso.onmicrosoft.com"}, {clientID}},
		"no audience": {{tenant}, nil},
	} {
		if _, err := entra.NewVerifier(args[0], args[1], ks); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	good := entratest.JWKS(testKey)
	doc := `{"keys":[{"kty":"RSA","kid":"enc","use":"enc","n":"` + "AQAB" + `","e":"AQAB"},{"kty":"oct","kid":"sym","k":"c2VjcmV0"},` +
		`{"kty":"RSA","kid":"broken","n":"!!","e":"AQAB"},` + strings.TrimSuffix(strings.TrimPrefix(string(good), `{"keys":[`), `]}`) + `]}`
	keys, err := entra.ParseJWKS([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys["key-1"] == nil {
		t.Fatalf("keys %v", keys)
	}
	if _, err := entra.ParseJWKS([]byte(`{"keys":[{"kty":"oct","kid":"sym","k":"c2VjcmV0"}]}`)); err == nil {
		t.Fatal("a set without RSA key accepted")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// tamper puts the payload of b on the header and signature of a.
func tamper(a, b string) string {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	return pa[0] + "." + pb[1] + "." + pa[2]
}

// unsigned is an alg:none token of claims.
func unsigned(c entratest.Claims) string {
	signed := testKey.Sign(c)
	parts := strings.Split(signed, ".")
	return "eyJhbGciOiJub25lIiwia2lkIjoia2V5LTEiLCJ0eXAiOiJKV1QifQ." + parts[1] + "."
}
