package enroll

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/fedtoken"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// TestFederatedTokenSingleUse: GetPolicies may see a token any number of
// times before RequestSecurityToken; the enrollment spends it; the same
// token is then refused with InvalidSecurity, at enrollment and at
// GetPolicies, and nothing is stored for the replay.
func TestFederatedTokenSingleUse(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	s := newTestService(t, "ecdsa")
	s.Auth = &TokenAuth{Verifier: HMACTokenVerifier{Secret: secret, Now: time.Now,
		Ledger: &fedtoken.Ledger{Storage: s.storage}}}
	token, err := fedtoken.Mint(secret, "carol@contoso.com", 5*time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	policy := func() error {
		env := parseEnvelope(t, federatedRequest(t, "a-policy-request.xml", token))
		_, _, err := s.GetPolicies(context.Background(), env, CredentialsFrom(env, nil))
		return err
	}
	for i := 0; i < 2; i++ {
		if err := policy(); err != nil {
			t.Fatalf("GetPolicies %d before enrollment: %v", i, err)
		}
	}
	if _, issued, err := s.enroll(t, federatedRequest(t, "a-enroll-request.xml", token)); err != nil || issued.Device.User != "carol@contoso.com" {
		t.Fatalf("enrollment: %v", err)
	}
	_, _, err = s.enroll(t, federatedRequest(t, "a-enroll-request.xml", token))
	var f *soap.Fault
	if !errors.As(err, &f) || f.Code != soap.InvalidSecurity || !errors.Is(err, ErrTokenSpent) {
		t.Fatalf("replayed token: %v, want an InvalidSecurity fault", err)
	}
	if err := policy(); !errors.As(err, &f) || f.Code != soap.InvalidSecurity {
		t.Errorf("GetPolicies with a spent token: %v, want InvalidSecurity", err)
	}
	if n := s.deviceCount(t); n != 1 {
		t.Errorf("%d devices stored, want 1", n)
	}
}

// TestDiscoverFederatedOwnPage: without a configured ServiceURL the
// server's own login page is announced; a configured one wins.
func TestDiscoverFederatedOwnPage(t *testing.T) {
	s := newTestService(t, "ecdsa")
	ep := testEndpoints
	ep.Authentication = "https://enterpriseenrollment.contoso.com/EnrollmentServer/Login"
	for _, tc := range []struct{ configured, want string }{
		{"", ep.Authentication},
		{"https://portal.contoso.com/mdm-login", "https://portal.contoso.com/mdm-login"},
	} {
		s.Auth = &TokenAuth{ServiceURL: tc.configured, Verifier: HMACTokenVerifier{}}
		resp, _, err := s.Discover(parseEnvelope(t, capture.Read(t, "a-discovery-request.xml")), ep)
		if err != nil {
			t.Fatal(err)
		}
		if got := soap.Text(soap.Child(discoverResult(t, resp), "AuthenticationServiceUrl")); got != tc.want {
			t.Errorf("configured %q: AuthenticationServiceUrl %q, want %q", tc.configured, got, tc.want)
		}
	}
}

// brokenStorage fails every read, as a storage that is down.
type brokenStorage struct{ certmagic.Storage }

func (brokenStorage) Load(context.Context, string) ([]byte, error) {
	return nil, errors.New("storage down")
}

// TestFederatedTokenLedgerDown: when the spent-token records cannot be
// read, the enrollment is refused as the server's failure
// (EnrollmentServer), not as wrong credentials, and nothing is stored.
func TestFederatedTokenLedgerDown(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	s := newTestService(t, "ecdsa")
	s.Auth = &TokenAuth{Verifier: HMACTokenVerifier{Secret: secret, Now: time.Now,
		Ledger: &fedtoken.Ledger{Storage: brokenStorage{s.storage}}}}
	token, _ := fedtoken.Mint(secret, "carol@contoso.com", 5*time.Minute, time.Now())
	_, _, err := s.enroll(t, federatedRequest(t, "a-enroll-request.xml", token))
	var f *soap.Fault
	if !errors.As(err, &f) || f.Code != soap.EnrollmentServer {
		t.Fatalf("ledger down: %v, want an EnrollmentServer fault", err)
	}
	if n := s.deviceCount(t); n != 0 {
		t.Errorf("%d devices stored", n)
	}
}
