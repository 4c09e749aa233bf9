package enroll

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

func discoverResult(t *testing.T, resp []byte) *etree.Element {
	t.Helper()
	env := parseEnvelope(t, resp)
	if env.Action != soap.ActionDiscoverResponse {
		t.Errorf("action %q", env.Action)
	}
	if env.Body.Tag != "DiscoverResponse" || env.Body.NamespaceURI() != soap.NSDiscovery {
		t.Errorf("body %s in %q", env.Body.Tag, env.Body.NamespaceURI())
	}
	return soap.Child(env.Body, "DiscoverResult")
}

func TestDiscoverRealDevice(t *testing.T) {
	s := newTestService(t, "ecdsa")
	resp, res, err := s.Discover(parseEnvelope(t, capture.Read(t, "a-discovery-request.xml")), testEndpoints)
	if err != nil {
		t.Fatal(err)
	}
	r := discoverResult(t, resp)
	for name, want := range map[string]string{
		"AuthPolicy":                 "OnPremise",
		"EnrollmentVersion":          "4.0",
		"EnrollmentPolicyServiceUrl": testEndpoints.Policy,
		"EnrollmentServiceUrl":       testEndpoints.Enrollment,
	} {
		if got := soap.Text(soap.Child(r, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if soap.Child(r, "AuthenticationServiceUrl") != nil {
		t.Error("AuthenticationServiceUrl in an OnPremise answer")
	}
	if !bytes.Contains(resp, []byte("<a:RelatesTo>urn:uuid:748132ec-a575-4329-b01b-6171a9cf8478</a:RelatesTo>")) {
		t.Error("RelatesTo does not echo the MessageID")
	}
	if !res.PolicyOffered || res.Request.EmailAddress != "demo@mdmwindows.com" || res.Request.DeviceType != "CIMClient_Windows" {
		t.Errorf("result %+v", res)
	}
}

func TestDiscoverVersionsAndNamespaces(t *testing.T) {
	s := newTestService(t, "ecdsa")
	base := string(capture.Read(t, "a-discovery-request.xml"))
	for _, tc := range []struct{ name, from, to, want string }{
		{"Windows 11 25H2 sends 9.0", "<RequestVersion>4.0<", "<RequestVersion>9.0<", "4.0"},
		{"5.0 answered 4.0, the highest implemented", "<RequestVersion>4.0<", "<RequestVersion>5.0<", "4.0"},
		{"older 3.0", "<RequestVersion>4.0<", "<RequestVersion>3.0<", "3.0"},
		{"three numbers, 10.0.1", "<RequestVersion>4.0<", "<RequestVersion>10.0.1<", "4.0"},
		{"trailing-slash namespace", `/2012/01/enrollment">`, `/2012/01/enrollment/">`, "4.0"},
		{"prefixed elements", "<Discover xmlns=", "<Discover xmlns:x=\"urn:x\" xmlns=", "4.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := strings.Replace(base, tc.from, tc.to, 1)
			if req == base {
				t.Fatal("substitution did nothing")
			}
			resp, _, err := s.Discover(parseEnvelope(t, []byte(req)), testEndpoints)
			if err != nil {
				t.Fatal(err)
			}
			if got := soap.Text(soap.Child(discoverResult(t, resp), "EnrollmentVersion")); got != tc.want {
				t.Errorf("EnrollmentVersion %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDiscoverFederated(t *testing.T) {
	s := newTestService(t, "ecdsa")
	s.Auth = &TokenAuth{ServiceURL: "https://login.contoso.com/mdm", Verifier: HMACTokenVerifier{}}
	resp, _, err := s.Discover(parseEnvelope(t, capture.Read(t, "a-discovery-request.xml")), testEndpoints)
	if err != nil {
		t.Fatal(err)
	}
	r := discoverResult(t, resp)
	if soap.Text(soap.Child(r, "AuthPolicy")) != "Federated" || soap.Text(soap.Child(r, "AuthenticationServiceUrl")) != "https://login.contoso.com/mdm" {
		t.Errorf("federated answer wrong:\n%s", resp)
	}
}

func TestDiscoverRefusals(t *testing.T) {
	s := newTestService(t, "ecdsa")
	base := string(capture.Read(t, "a-discovery-request.xml"))
	for name, req := range map[string]string{
		"wrong action":  strings.Replace(base, "IDiscoveryService/Discover<", "IDiscoveryService/Other<", 1),
		"bad version":   strings.Replace(base, "<RequestVersion>4.0<", "<RequestVersion>four<", 1),
		"no request el": strings.Replace(strings.Replace(base, "<request ", "<other ", 1), "</request>", "</other>", 1),
	} {
		_, _, err := s.Discover(parseEnvelope(t, []byte(req)), testEndpoints)
		var f *soap.Fault
		if !errors.As(err, &f) || f.Code != soap.MessageFormat {
			t.Errorf("%s: got %v, want MessageFormat", name, err)
		}
	}
}

func TestSameEndpoint(t *testing.T) {
	served := "https://enterpriseenrollment.mdmwindows.com/EnrollmentServer/Discovery.svc"
	for to, want := range map[string]bool{
		"https://EnterpriseEnrollment.mdmwindows.com:443/EnrollmentServer/Discovery.svc":  true,
		"HTTPS://enterpriseenrollment.mdmwindows.com/EnrollmentServer/Discovery.svc/":     true,
		"https://enterpriseenrollment.mdmwindows.com:8443/EnrollmentServer/Discovery.svc": false,
		"https://other.mdmwindows.com/EnrollmentServer/Discovery.svc":                     false,
	} {
		if got := SameEndpoint(to, served); got != want {
			t.Errorf("SameEndpoint(%q) = %v, want %v", to, got, want)
		}
	}
}

func TestGetPoliciesRealDevice(t *testing.T) {
	s := newTestService(t, "ecdsa")
	env := parseEnvelope(t, capture.Read(t, "a-policy-request.xml"))
	resp, user, err := s.GetPolicies(context.Background(), env, CredentialsFrom(env, nil))
	if err != nil {
		t.Fatal(err)
	}
	if user != "demo@mdmwindows.com" {
		t.Errorf("user %q", user)
	}
	out := parseEnvelope(t, resp)
	if out.Action != soap.ActionGetPoliciesResponse || out.Body.NamespaceURI() != soap.NSPolicy {
		t.Errorf("action %q ns %q", out.Action, out.Body.NamespaceURI())
	}
	attrs := soap.Path(out.Body, "response", "policies", "policy", "attributes")
	if soap.Text(soap.Child(attrs, "policySchema")) != "3" {
		t.Error("policySchema is not 3")
	}
	if soap.Text(soap.Path(attrs, "privateKeyAttributes", "minimalKeyLength")) != "2048" {
		t.Error("minimalKeyLength is not 2048")
	}
	if soap.Text(soap.Path(attrs, "certificateValidity", "validityPeriodSeconds")) != "31536000" {
		t.Error("validityPeriodSeconds is not the configured year")
	}
	// P2: hashAlgorithmOIDReference names an oID of this response: SHA-256.
	ref := soap.Text(soap.Child(attrs, "hashAlgorithmOIDReference"))
	var found string
	for _, o := range soap.Children(soap.Child(out.Body, "oIDs"), "oID") {
		if soap.Text(soap.Child(o, "oIDReferenceID")) == ref {
			found = soap.Text(soap.Child(o, "value"))
		}
	}
	if found != OIDSHA256 {
		t.Errorf("hashAlgorithmOIDReference %q resolves to %q, want SHA-256", ref, found)
	}
	// The policy's OID (policyOIDReference) is in group 9, an enrollment
	// object identifier; SHA-256 in group 1, a hash algorithm (MS-XCEP
	// 3.1.4.1.3.16).
	policyRef := soap.Text(soap.Path(out.Body, "response", "policies", "policy", "policyOIDReference"))
	groups := map[string]string{}
	for _, o := range soap.Children(soap.Child(out.Body, "oIDs"), "oID") {
		groups[soap.Text(soap.Child(o, "oIDReferenceID"))] = soap.Text(soap.Child(o, "group"))
	}
	if groups[policyRef] != "9" || groups[ref] != "1" {
		t.Errorf("OID groups: policy %q, hash %q; want 9 and 1", groups[policyRef], groups[ref])
	}

	bad := parseEnvelope(t, bytes.Replace(capture.Read(t, "a-policy-request.xml"), []byte(">demo</wsse:Password>"), []byte(">nope</wsse:Password>"), 1))
	_, _, err = s.GetPolicies(context.Background(), bad, CredentialsFrom(bad, nil))
	var f *soap.Fault
	if !errors.As(err, &f) || f.Code != soap.Authentication {
		t.Errorf("wrong password: %v, want Authentication fault", err)
	}
}
