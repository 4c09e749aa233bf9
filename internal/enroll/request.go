package enroll

import (
	"encoding/base64"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// The requests of the enrollment services, parsed once at the edge: the
// services decide on these types and never walk the XML.

// TokenRequest is an MS-WSTEP RequestSecurityToken.
type TokenRequest struct {
	// RequestType is soap.RequestTypeIssue, RequestTypeRenew,
	// RequestTypeRecovery or whatever else the device sent.
	RequestType string
	// Token is the BinarySecurityToken of the body (the PKCS#10 of an
	// Issue, the PKCS#7 of a Renew); nil when the body has none.
	Token *SecurityToken
	// Context is what the device says of itself.
	Context AdditionalContext
}

// SecurityToken is a wsse:BinarySecurityToken of a request body, decoded.
type SecurityToken struct {
	ValueType string
	// DER is the decoded value; nil when DecodeErr is set.
	DER []byte
	// DecodeErr says why the value is not base64. It is reported where the
	// token is used, so a request is refused for its first fault in the
	// order the services check them.
	DecodeErr error
}

// AdditionalContext is the ac:AdditionalContext of a RequestSecurityToken.
// Every value is an untrusted hint; a name sent twice keeps its first value
// (MAC keeps all of them).
type AdditionalContext struct {
	DeviceID, HWDevID  string
	EnrollmentType     string
	DeviceName         string
	DeviceType         string
	OSVersion          string
	OSEdition          string
	ApplicationVersion string
	Locale             string
	// EnrollmentData is what the terms-of-use page handed out on
	// acceptance (its OpaqueBlob), returned by Windows in Entra enrollment.
	EnrollmentData string
	MACs           []string
	// Items is how many context items were read, at most maxContextItems.
	Items int
}

// maxContextItems bounds how many AdditionalContext items are read.
const maxContextItems = 256

// ParseTokenRequest reads an enrollment service request: a
// RequestSecurityToken of TokenType DeviceEnrollmentToken. Anything else is
// a MessageFormat fault. Only the envelope's shape is judged here; the
// values are judged by the service, in its order.
func ParseTokenRequest(env *soap.Envelope) (*TokenRequest, error) {
	if env.Action != soap.ActionRequestToken || env.Body.Tag != "RequestSecurityToken" {
		return nil, soap.NewFault(soap.MessageFormat, nil,
			"Unexpected action %q for the enrollment service.", env.Action)
	}
	if tt := soap.Text(soap.Child(env.Body, "TokenType")); tt != soap.TokenTypeDeviceEnroll {
		return nil, soap.NewFault(soap.MessageFormat, nil, "TokenType %q is not DeviceEnrollmentToken.", tt)
	}
	return readTokenRequest(env.Body), nil
}

// readTokenRequest reads the parts of a RequestSecurityToken element; it
// never fails.
func readTokenRequest(rst *etree.Element) *TokenRequest {
	req := &TokenRequest{
		RequestType: soap.Text(soap.Child(rst, "RequestType")),
		Context:     readAdditionalContext(soap.Child(rst, "AdditionalContext")),
	}
	if bst := soap.Child(rst, "BinarySecurityToken"); bst != nil {
		tok := soap.ReadBinaryToken(bst)
		st := &SecurityToken{ValueType: tok.ValueType}
		st.DER, st.DecodeErr = base64.StdEncoding.DecodeString(stripSpace(tok.Value))
		if st.DecodeErr != nil {
			st.DER = nil
		}
		req.Token = st
	}
	return req
}

func readAdditionalContext(e *etree.Element) AdditionalContext {
	var c AdditionalContext
	fields := map[string]*string{
		"DeviceID": &c.DeviceID, "HWDevID": &c.HWDevID, "EnrollmentType": &c.EnrollmentType,
		"DeviceName": &c.DeviceName, "DeviceType": &c.DeviceType, "OSVersion": &c.OSVersion,
		"OSEdition": &c.OSEdition, "ApplicationVersion": &c.ApplicationVersion, "Locale": &c.Locale,
		"EnrollmentData": &c.EnrollmentData,
	}
	seen := map[string]bool{}
	for i, item := range soap.Children(e, "ContextItem") {
		if i == maxContextItems {
			break
		}
		c.Items++
		name := item.SelectAttrValue("Name", "")
		value := soap.Text(soap.Child(item, "Value"))
		if name == "MAC" {
			c.MACs = append(c.MACs, value)
			continue
		}
		if f, ok := fields[name]; ok && !seen[name] {
			*f = value
			seen[name] = true
		}
	}
	return c
}

// PolicyRequest is an MS-XCEP GetPolicies. Windows sends both values nil
// (read as ""); the policy answered does not depend on them.
type PolicyRequest struct {
	LastUpdate        string
	PreferredLanguage string
}

// ParsePolicyRequest reads a policy service request; anything but a
// GetPolicies is a MessageFormat fault.
func ParsePolicyRequest(env *soap.Envelope) (*PolicyRequest, error) {
	if env.Action != soap.ActionGetPolicies || env.Body.Tag != "GetPolicies" {
		return nil, soap.NewFault(soap.MessageFormat, nil,
			"Unexpected action %q for the enrollment policy service.", env.Action)
	}
	client := soap.Child(env.Body, "client")
	return &PolicyRequest{
		LastUpdate:        soap.Text(soap.Child(client, "lastUpdate")),
		PreferredLanguage: soap.Text(soap.Child(client, "preferredLanguage")),
	}, nil
}

// ParseDiscoveryRequest reads a discovery service request; anything but a
// Discover with a request element is a MessageFormat fault.
func ParseDiscoveryRequest(env *soap.Envelope) (*DiscoveryRequest, error) {
	if env.Action != soap.ActionDiscover || env.Body.Tag != "Discover" {
		return nil, soap.NewFault(soap.MessageFormat, nil,
			"Unexpected action %q for the discovery service.", env.Action)
	}
	req := soap.Child(env.Body, "request")
	if req == nil {
		return nil, soap.NewFault(soap.MessageFormat, nil, "Discover has no request element.")
	}
	dr := &DiscoveryRequest{
		EmailAddress:       soap.Text(soap.Child(req, "EmailAddress")),
		RequestVersion:     soap.Text(soap.Child(req, "RequestVersion")),
		DeviceType:         soap.Text(soap.Child(req, "DeviceType")),
		ApplicationVersion: soap.Text(soap.Child(req, "ApplicationVersion")),
		OSEdition:          soap.Text(soap.Child(req, "OSEdition")),
	}
	for _, p := range soap.Children(soap.Child(req, "AuthPolicies"), "AuthPolicy") {
		dr.AuthPolicies = append(dr.AuthPolicies, soap.Text(p))
	}
	return dr, nil
}
