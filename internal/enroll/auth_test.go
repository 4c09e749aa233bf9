package enroll

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/fedtoken"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// federatedRequest turns a captured OnPremise request into a Federated one:
// the UsernameToken is replaced by the BinarySecurityToken the login page
// gave the device, base64-encoded as Windows sends it.
func federatedRequest(t *testing.T, file, token string) []byte {
	t.Helper()
	s := string(capture.Read(t, file))
	i, j := strings.Index(s, "<wsse:UsernameToken"), strings.Index(s, "</wsse:UsernameToken>")
	bst := `<wsse:BinarySecurityToken ValueType="` + soap.ValueTypeUserToken + `" EncodingType="` + soap.EncodingTypeBase64Binary + `">` +
		base64.StdEncoding.EncodeToString([]byte(token)) + `</wsse:BinarySecurityToken>`
	return []byte(s[:i] + bst + s[j+len("</wsse:UsernameToken>"):])
}

func TestFederatedEnrollment(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	s := newTestService(t, "ecdsa")
	s.Auth = &TokenAuth{ServiceURL: "https://login.contoso.com/", Verifier: HMACTokenVerifier{Secret: secret, Now: time.Now}}

	token, err := fedtoken.Mint(secret, "carol@contoso.com", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	env := parseEnvelope(t, federatedRequest(t, "a-policy-request.xml", token))
	if _, user, err := s.GetPolicies(context.Background(), env, CredentialsFrom(env, nil)); err != nil || user != "carol@contoso.com" {
		t.Fatalf("policy with token: %q %v", user, err)
	}
	_, issued, err := s.enroll(t, federatedRequest(t, "a-enroll-request.xml", token))
	if err != nil {
		t.Fatal(err)
	}
	if issued.Device.User != "carol@contoso.com" || issued.Device.AuthPolicy != "Federated" {
		t.Errorf("device %+v", issued.Device.Redacted())
	}

	expired, _ := fedtoken.Mint(secret, "carol@contoso.com", time.Minute, time.Now().Add(-time.Hour))
	forged, _ := fedtoken.Mint([]byte(strings.Repeat("x", 32)), "mallory@contoso.com", time.Hour, time.Now())
	for name, tok := range map[string]string{"expired": expired, "forged": forged, "garbage": "abc"} {
		s2 := newTestService(t, "ecdsa")
		s2.Auth = s.Auth
		_, _, err := s2.enroll(t, federatedRequest(t, "a-enroll-request.xml", tok))
		var f *soap.Fault
		if !errors.As(err, &f) || f.Code != soap.Authentication {
			t.Errorf("%s token: %v, want Authentication fault", name, err)
		}
		if s2.deviceCount(t) != 0 {
			t.Errorf("%s token: device stored", name)
		}
	}
	// An OnPremise UsernameToken is no federated credential.
	if _, _, err := s.enroll(t, capture.Read(t, "a-enroll-request.xml")); err == nil {
		t.Error("UsernameToken accepted by the federated policy")
	}
}

// TestFederatedTokenEncodings: the token is read whatever the spelling of
// its base64 EncodingType (MS-MDE2's "#base64binary", WS-Security's
// "#Base64Binary"), and without one, base64 or a bare JWT.
func TestFederatedTokenEncodings(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	token, err := fedtoken.Mint(secret, "dave@contoso.com", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := &TokenAuth{ServiceURL: "https://login.contoso.com/", Verifier: HMACTokenVerifier{Secret: secret, Now: time.Now}}
	b64 := base64.StdEncoding.EncodeToString([]byte(token))
	for name, bt := range map[string]*soap.BinaryToken{
		"MS-MDE2":      {ValueType: soap.ValueTypeUserToken, EncodingType: soap.EncodingTypeBase64Binary, Value: b64},
		"WS-Security":  {ValueType: soap.ValueTypeUserToken, EncodingType: "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary", Value: b64},
		"none, base64": {ValueType: soap.ValueTypeUserToken, Value: b64},
		"none, JWT":    {ValueType: soap.ValueTypeUserToken, Value: token},
	} {
		user, err := a.Authenticate(context.Background(), Credentials{Token: bt, Action: soap.ActionGetPolicies})
		if err != nil || user != "dave@contoso.com" {
			t.Errorf("%s: %q %v", name, user, err)
		}
	}
}

func TestCertificatePolicy(t *testing.T) {
	userCA := testpki.NewCA(t, "ecdsa")
	pool := x509.NewCertPool()
	pool.AddCert(userCA.Root)
	s := newTestService(t, "ecdsa")
	s.Auth = &CertificateAuth{Roots: pool, Now: time.Now}

	key := testpki.NewKey(t, "ecdsa")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "dave"},
		EmailAddresses: []string{"dave@contoso.com"},
		NotBefore:      time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, userCA.Root, key.Public(), userCA.Key)
	if err != nil {
		t.Fatal(err)
	}
	userCert, _ := x509.ParseCertificate(der)

	env := parseEnvelope(t, capture.Read(t, "a-enroll-request.xml"))
	_, issued, err := s.RequestToken(context.Background(), env, CredentialsFrom(env, []*x509.Certificate{userCert}), testEndpoints)
	if err != nil {
		t.Fatal(err)
	}
	if issued.Device.User != "dave@contoso.com" || issued.Device.AuthPolicy != "Certificate" {
		t.Errorf("device %+v", issued.Device.Redacted())
	}
	// A certificate of another CA (here: the device CA's own root) is refused.
	other := newTestService(t, "ecdsa")
	other.Auth = s.Auth
	_, _, err = other.RequestToken(context.Background(), env, CredentialsFrom(env, []*x509.Certificate{other.Issuer.CA.Root}), testEndpoints)
	var f *soap.Fault
	if !errors.As(err, &f) || f.Code != soap.Authentication || other.deviceCount(t) != 0 {
		t.Errorf("foreign certificate: %v", err)
	}
	if _, _, err := other.RequestToken(context.Background(), env, CredentialsFrom(env, nil), testEndpoints); err == nil {
		t.Error("no certificate accepted")
	}
}

// TestPasswordHashesAreBounded: however many requests arrive at once, no
// more password hashes run at once than the bound.
func TestPasswordHashesAreBounded(t *testing.T) {
	var mu sync.Mutex
	running, peak := 0, 0
	compare := func(_, _ []byte) (bool, error) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return false, nil
	}
	a := NewPasswordAuth(map[string][]byte{"u": []byte("h")}, compare, []byte("fake"))
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = a.Authenticate(context.Background(), Credentials{Username: "u", Password: "p"})
		}()
	}
	wg.Wait()
	if bound := cap(a.hashing); peak > bound || peak == 0 {
		t.Errorf("%d hashes ran at once, bound %d", peak, bound)
	}
}
