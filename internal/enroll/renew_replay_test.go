package enroll

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// withUserToken replaces a request's UsernameToken with a federated token.
func withUserToken(req []byte, token string) []byte {
	s := string(req)
	i, j := strings.Index(s, "<wsse:UsernameToken"), strings.Index(s, "</wsse:UsernameToken>")
	bst := `<wsse:BinarySecurityToken ValueType="` + soap.ValueTypeUserToken + `" EncodingType="` + soap.EncodingTypeBase64Binary + `">` +
		base64.StdEncoding.EncodeToString([]byte(token)) + `</wsse:BinarySecurityToken>`
	return []byte(s[:i] + bst + s[j+len("</wsse:UsernameToken>"):])
}

// A manual renewal by another account than the device's is refused.
func TestManualRenewalOtherUser(t *testing.T) {
	s := newTestService(t, "ecdsa")
	dev := enrollWithKey(t, s, "a-enroll-request.xml") // demo@mdmwindows.com
	inWindow(s, dev.cert)
	req := renewalRequest(t, dev, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, true)
	_, _, err := s.renew(t, asUser(t, req, "demio"))
	wantFault(t, err, soap.Authorization, "renewal by another user")
	rec, _ := s.Store.Device(context.Background(), deviceAID)
	if rec.Certificate.Thumbprint != issuer.Thumbprint(dev.cert) || rec.PreviousCertificate != nil {
		t.Error("a refused renewal changed the record")
	}
	// The device's own user, in another case, renews.
	if _, _, err := s.renew(t, asUser(t, req, "DEMO@mdmwindows.com")); err != nil {
		t.Fatalf("renewal by the device's user: %v", err)
	}
}

// The reviewed attack: a ROBO renewal request is replayed without a TLS
// certificate, outside the window, after the device got its new
// certificate. No third certificate may be issued, whoever authenticates.
func TestReplayedRenewalStrandsNoDevice(t *testing.T) {
	s := newTestService(t, "ecdsa")
	dev := enrollWithKey(t, s, "a-enroll-request.xml")
	inWindow(s, dev.cert)
	req := renewalRequest(t, dev, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, true)
	_, issued, err := s.renew(t, req, dev.cert)
	if err != nil {
		t.Fatal(err)
	}
	cert2 := issued.Certificate
	s.Now = func() time.Time { return dev.cert.NotBefore.Add(time.Hour) } // outside the window
	for _, user := range []string{"demio", "demo@mdmwindows.com"} {
		_, _, err := s.renew(t, asUser(t, req, user))
		wantFault(t, err, soap.Authorization, "replay as "+user)
		rec, _ := s.Store.Device(context.Background(), deviceAID)
		if rec.Certificate.Thumbprint != issuer.Thumbprint(cert2) {
			t.Fatalf("replay as %s replaced the device's certificate", user)
		}
	}
	// The lost-answer retry still works by ROBO (the sender holds the key).
	if _, issued, err := s.renew(t, req, dev.cert); err != nil || !issued.Renewed {
		t.Fatalf("ROBO retry: %v", err)
	}
}

type fixedVerifier string

func (v fixedVerifier) VerifyToken(context.Context, string) (string, error) { return string(v), nil }

// With disable_robo, a federated device renews with its token.
func TestManualRenewalWithTokenDisableROBO(t *testing.T) {
	s := newTestService(t, "ecdsa")
	dev := enrollWithKey(t, s, "a-enroll-request.xml")
	inWindow(s, dev.cert)
	s.DisableROBO = true
	s.Auth = &TokenAuth{Verifier: fixedVerifier("demo@mdmwindows.com")}
	req := renewalRequest(t, dev, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, true)
	if _, issued, err := s.renew(t, withUserToken(req, "tok")); err != nil || !issued.Renewed {
		t.Fatalf("token renewal with ROBO disabled: %v", err)
	}
	// Another user's token is refused.
	s2 := newTestService(t, "ecdsa")
	dev2 := enrollWithKey(t, s2, "a-enroll-request.xml")
	inWindow(s2, dev2.cert)
	s2.DisableROBO = true
	s2.Auth = &TokenAuth{Verifier: fixedVerifier("mallory@contoso.com")}
	_, _, err := s2.renew(t, withUserToken(renewalRequest(t, dev2, testpki.NewKey(t, "rsa"), soap.ValueTypePKCS7, true), "tok"))
	wantFault(t, err, soap.Authorization, "another user's token")
}
