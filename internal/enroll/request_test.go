package enroll

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// TestParseTokenRequest: a real device's request reads into the typed
// request, context items and all.
func TestParseTokenRequest(t *testing.T) {
	req, err := ParseTokenRequest(parseEnvelope(t, capture.Read(t, "a-enroll-request.xml")))
	if err != nil {
		t.Fatal(err)
	}
	if req.RequestType != soap.RequestTypeIssue {
		t.Errorf("RequestType %q", req.RequestType)
	}
	if req.Token == nil || req.Token.ValueType != soap.ValueTypePKCS10 || req.Token.DecodeErr != nil || len(req.Token.DER) == 0 {
		t.Errorf("token %+v", req.Token)
	}
	if ac := req.Context; !strings.EqualFold(ac.DeviceID, deviceAID) || ac.Items == 0 || ac.EnrollmentType == "" || ac.OSVersion == "" {
		t.Errorf("context %+v", ac)
	}
}

// rst is a RequestSecurityToken of the given body parts.
func rst(action, tokenType, inner string) []byte {
	return []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">` +
		`<s:Header><a:Action s:mustUnderstand="1">` + action + `</a:Action><a:MessageID>urn:uuid:1</a:MessageID></s:Header>` +
		`<s:Body><wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512">` +
		`<wst:TokenType>` + tokenType + `</wst:TokenType>` + inner +
		`</wst:RequestSecurityToken></s:Body></s:Envelope>`)
}

func contextItems(items ...[2]string) string {
	var b bytes.Buffer
	b.WriteString(`<ac:AdditionalContext xmlns:ac="http://schemas.xmlsoap.org/ws/2006/12/authorization">`)
	for _, it := range items {
		fmt.Fprintf(&b, `<ac:ContextItem Name="%s"><ac:Value>%s</ac:Value></ac:ContextItem>`, it[0], it[1])
	}
	b.WriteString(`</ac:AdditionalContext>`)
	return b.String()
}

// TestParseTokenRequestShapes: the first value of a repeated name is kept,
// every MAC is; at most maxContextItems items are read; a token that is not
// base64 is kept with its decode error (the service refuses it in its
// order); a missing token is nil; a wrong action or TokenType is a
// MessageFormat fault.
func TestParseTokenRequestShapes(t *testing.T) {
	inner := `<wst:RequestType>` + soap.RequestTypeRenew + `</wst:RequestType>` +
		`<wsse:BinarySecurityToken xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" ValueType="` +
		soap.ValueTypePKCS7 + `">not base64!</wsse:BinarySecurityToken>` +
		contextItems([2]string{"DeviceID", "FIRST"}, [2]string{"DeviceID", "SECOND"}, [2]string{"MAC", "m1"}, [2]string{"MAC", "m2"}, [2]string{"Unknown", "x"})
	req, err := ParseTokenRequest(parseEnvelope(t, rst(soap.ActionRequestToken, soap.TokenTypeDeviceEnroll, inner)))
	if err != nil {
		t.Fatal(err)
	}
	if req.RequestType != soap.RequestTypeRenew || req.Context.DeviceID != "FIRST" || strings.Join(req.Context.MACs, ",") != "m1,m2" || req.Context.Items != 5 {
		t.Errorf("request %+v", req)
	}
	if req.Token == nil || req.Token.DecodeErr == nil || req.Token.DER != nil || req.Token.ValueType != soap.ValueTypePKCS7 {
		t.Errorf("token %+v", req.Token)
	}
	var f *soap.Fault
	if _, err := (&Service{}).renewalRequest(req.Token); !errors.As(err, &f) || f.Code != soap.CertificateRequest {
		t.Errorf("renewal of a token that is not base64: %v", err)
	}

	many := make([][2]string, maxContextItems+10)
	for i := range many {
		many[i] = [2]string{"MAC", "m"}
	}
	req, err = ParseTokenRequest(parseEnvelope(t, rst(soap.ActionRequestToken, soap.TokenTypeDeviceEnroll, contextItems(many...))))
	if err != nil {
		t.Fatal(err)
	}
	if req.Context.Items != maxContextItems || len(req.Context.MACs) != maxContextItems || req.Token != nil {
		t.Errorf("%d items, %d MACs, token %v", req.Context.Items, len(req.Context.MACs), req.Token)
	}

	for name, body := range map[string][]byte{
		"wrong action":    rst(soap.ActionGetPolicies, soap.TokenTypeDeviceEnroll, ""),
		"wrong TokenType": rst(soap.ActionRequestToken, "urn:other", ""),
	} {
		if _, err := ParseTokenRequest(parseEnvelope(t, body)); !errors.As(err, &f) || f.Code != soap.MessageFormat {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestParsePolicyRequest: a real device's GetPolicies reads; a request
// for another service is a MessageFormat fault.
func TestParsePolicyRequest(t *testing.T) {
	req, err := ParsePolicyRequest(parseEnvelope(t, capture.Read(t, "a-policy-request.xml")))
	if err != nil || req.LastUpdate != "" || req.PreferredLanguage != "" {
		t.Fatalf("%+v %v", req, err)
	}
	var f *soap.Fault
	if _, err := ParsePolicyRequest(parseEnvelope(t, capture.Read(t, "a-enroll-request.xml"))); !errors.As(err, &f) || f.Code != soap.MessageFormat {
		t.Errorf("enrollment request to the policy service: %v", err)
	}
}
