package enroll

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/entra"
	"github.com/caddy-mdm/caddy-mdm/internal/entra/entratest"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/tou"
)

const (
	entraTenant = "8a3c1b2d-4e5f-4a6b-9c7d-0e1f2a3b4c5d"
	entraClient = "c0ffee00-1234-4abc-8def-0123456789ab"
)

// entraRequest turns a captured OnPremise request into an Entra one: the
// access token as a base64 BinarySecurityToken of ValueType jwt (as
// Windows sends it, wrapped over lines), the EnrollmentType given, and the
// EnrollmentData item when blob is not "".
func entraRequest(t *testing.T, file, jwt, enrollmentType, blob string) []byte {
	t.Helper()
	s := string(capture.Read(t, file))
	i, j := strings.Index(s, "<wsse:UsernameToken"), strings.Index(s, "</wsse:UsernameToken>")
	b64 := base64.StdEncoding.EncodeToString([]byte(jwt))
	b64 = b64[:40] + "\n         " + b64[40:]
	bst := `<wsse:BinarySecurityToken ValueType="` + soap.ValueTypeJWT + `" EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">` +
		b64 + `</wsse:BinarySecurityToken>`
	s = s[:i] + bst + s[j+len("</wsse:UsernameToken>"):]
	if enrollmentType != "" {
		s = regexp.MustCompile(`(Name="EnrollmentType">\s*<ac:Value>)[^<]*`).ReplaceAllString(s, "${1}"+enrollmentType)
	}
	if blob != "" {
		s = strings.Replace(s, "</ac:AdditionalContext>", `<ac:ContextItem Name="EnrollmentData"><ac:Value>`+blob+`</ac:Value></ac:ContextItem></ac:AdditionalContext>`, 1)
	}
	return []byte(s)
}

func TestEntraEnrollment(t *testing.T) {
	key := entratest.NewKey("k1")
	v, err := entra.NewVerifier([]string{entraTenant}, []string{entraClient}, entra.NewStaticKeySet(entratest.JWKS(key)))
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := tou.NewAcceptances([]byte(strings.Repeat("s", 32)))
	auth := &EntraAuth{Verifier: v, Terms: acc}
	now := time.Now()
	claims := entratest.V2(entraTenant, entraClient, "grace@contoso.com", now)
	jwt := key.Sign(claims)
	blob, _ := acc.Mint(entraTenant, claims["oid"].(string), "n1")

	s := newTestService(t, "rsa")
	s.Auth = auth
	env := parseEnvelope(t, entraRequest(t, "a-policy-request.xml", jwt, "", ""))
	if _, user, err := s.GetPolicies(context.Background(), env, CredentialsFrom(env, nil)); err != nil || user != "grace@contoso.com" {
		t.Fatalf("GetPolicies with a JWT: %q %v", user, err)
	}
	resp, issued, err := s.enroll(t, entraRequest(t, "a-enroll-request.xml", jwt, "Device", blob))
	if err != nil {
		t.Fatal(err)
	}
	d := issued.Device
	if d.User != "grace@contoso.com" || d.EntraTenantID != entraTenant || d.EntraObjectID != claims["oid"] ||
		d.EnrollmentType != store.EnrollmentDevice || d.AuthPolicy != store.PolicyFederated {
		t.Fatalf("device %+v", d.Redacted())
	}
	// EnrollmentType Device installs the certificate in the machine store.
	raw, _ := provisioningDocument(t, resp)
	if !strings.Contains(string(raw), `Stores=My%5CSystem`) || strings.Contains(string(raw), `My%5CUser`) {
		t.Errorf("device enrollment document without the system store:\n%s", raw)
	}

	otherBlob, _ := acc.Mint(entraTenant, "another-user", "n2")
	foreign := entratest.NewKey("k1").Sign(claims)
	for name, c := range map[string]struct {
		req  []byte
		code soap.FaultCode
	}{
		"no terms accepted":      {entraRequest(t, "a-enroll-request.xml", jwt, "Device", ""), soap.Authorization},
		"terms of another user":  {entraRequest(t, "a-enroll-request.xml", jwt, "Device", otherBlob), soap.Authorization},
		"forged blob":            {entraRequest(t, "a-enroll-request.xml", jwt, "Device", "eyJ4IjoxfQ.AAAA"), soap.Authorization},
		"foreign signature":      {entraRequest(t, "a-enroll-request.xml", foreign, "Device", blob), soap.Authentication},
		"other tenant":           {entraRequest(t, "a-enroll-request.xml", key.Sign(entratest.V2("11111111-2222-4333-8444-555555555555", entraClient, "eve@evil.example", now)), "Device", blob), soap.Authentication},
		"password, not a token":  {capture.Read(t, "a-enroll-request.xml"), soap.Authentication},
		"federated token format": {federatedRequest(t, "a-enroll-request.xml", jwt), soap.Authentication},
	} {
		s2 := newTestService(t, "rsa")
		s2.Auth = auth
		_, _, err := s2.enroll(t, c.req)
		var f *soap.Fault
		if !errors.As(err, &f) || f.Code != c.code {
			t.Errorf("%s: %v, want %s fault", name, err, c.code.Type)
		}
		if s2.deviceCount(t) != 0 {
			t.Errorf("%s: device stored", name)
		}
	}
}
