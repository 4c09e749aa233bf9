package emulator

import (
	"encoding/base64"
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// The requests below follow the captured Windows 10 traffic element for
// element and namespace for namespace.

func messageID() string {
	return fmt.Sprintf("urn:uuid:%08x-0000-4000-8000-%012x", time.Now().UnixNano()&0xffffffff, time.Now().UnixNano()&0xffffffffffff)
}

func discoverRequest(to, email, version, deviceType, appVersion string) (string, []byte) {
	id := messageID()
	return id, []byte(`<s:Envelope xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:s="http://www.w3.org/2003/05/soap-envelope">` +
		`<s:Header><a:Action s:mustUnderstand="1">` + soap.ActionDiscover + `</a:Action>` +
		`<a:MessageID>` + id + `</a:MessageID><a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>` +
		`<a:To s:mustUnderstand="1">` + html.EscapeString(to) + `</a:To></s:Header>` +
		`<s:Body><Discover xmlns="http://schemas.microsoft.com/windows/management/2012/01/enrollment"><request xmlns:i="http://www.w3.org/2001/XMLSchema-instance">` +
		`<EmailAddress>` + html.EscapeString(email) + `</EmailAddress><RequestVersion>` + version + `</RequestVersion>` +
		`<DeviceType>` + deviceType + `</DeviceType><ApplicationVersion>` + appVersion + `</ApplicationVersion><OSEdition>72</OSEdition>` +
		`<AuthPolicies><AuthPolicy>OnPremise</AuthPolicy><AuthPolicy>Federated</AuthPolicy></AuthPolicies></request></Discover></s:Body></s:Envelope>`)
}

// security is the wsse:Security header: a UsernameToken, or the federated
// token as a BinarySecurityToken (base64, as Windows sends it).
func security(o *Options) string {
	if o.JWT != "" {
		return entraSecurity(o.JWT)
	}
	if o.Token != "" {
		return `<wsse:Security s:mustUnderstand="1"><wsse:BinarySecurityToken ValueType="` + soap.ValueTypeUserToken + `" EncodingType="` + soap.EncodingTypeBase64Binary + `">` +
			base64.StdEncoding.EncodeToString([]byte(o.Token)) + `</wsse:BinarySecurityToken></wsse:Security>`
	}
	if o.User == "" {
		return ""
	}
	return `<wsse:Security s:mustUnderstand="1"><wsse:UsernameToken u:Id="uuid-cc1ccc1f-2fba-4bcf-b063-ffc0cac77917-4">` +
		`<wsse:Username>` + html.EscapeString(o.User) + `</wsse:Username>` +
		`<wsse:Password wsse:Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">` + html.EscapeString(o.Password) + `</wsse:Password>` +
		`</wsse:UsernameToken></wsse:Security>`
}

const wsNamespaces = `xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing" ` +
	`xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" ` +
	`xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" ` +
	`xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512" xmlns:ac="http://schemas.xmlsoap.org/ws/2006/12/authorization"`

func header(action, id, to, sec string) string {
	return `<s:Header><a:Action s:mustUnderstand="1">` + action + `</a:Action><a:MessageID>` + id + `</a:MessageID>` +
		`<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>` +
		`<a:To s:mustUnderstand="1">` + html.EscapeString(to) + `</a:To>` + sec + `</s:Header>`
}

func policyRequest(o *Options, to string) (string, []byte) {
	id := messageID()
	return id, []byte(`<s:Envelope ` + wsNamespaces + `>` + header(soap.ActionGetPolicies, id, to, security(o)) +
		`<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">` +
		`<GetPolicies xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"><client><lastUpdate xsi:nil="true"/><preferredLanguage xsi:nil="true"/></client>` +
		`<requestFilter xsi:nil="true"/></GetPolicies></s:Body></s:Envelope>`)
}

// tokenRequest is RequestSecurityToken: Issue with a PKCS#10, or Renew with
// a PKCS#7, and the device's AdditionalContext.
func tokenRequest(sec, to, requestType, valueType string, token []byte, ctx map[string]string, macs []string) (string, []byte) {
	id := messageID()
	var b strings.Builder
	b.WriteString(`<s:Envelope ` + wsNamespaces + `>` + header(soap.ActionRequestToken, id, to, sec))
	b.WriteString(`<s:Body><wst:RequestSecurityToken><wst:TokenType>` + soap.TokenTypeDeviceEnroll + `</wst:TokenType>`)
	b.WriteString(`<wst:RequestType>` + requestType + `</wst:RequestType>`)
	b.WriteString(`<wsse:BinarySecurityToken ValueType="` + valueType + `" EncodingType="` + soap.EncodingTypeBase64Binary + `">`)
	b.WriteString(base64.StdEncoding.EncodeToString(token) + `</wsse:BinarySecurityToken>`)
	b.WriteString(`<ac:AdditionalContext xmlns="http://schemas.xmlsoap.org/ws/2006/12/authorization">`)
	item := func(name, value string) {
		b.WriteString(`<ac:ContextItem Name="` + name + `"><ac:Value>` + html.EscapeString(value) + `</ac:Value></ac:ContextItem>`)
	}
	for _, name := range []string{"UXInitiated", "HWDevID", "Locale", "TargetedUserLoggedIn", "OSEdition", "DeviceName"} {
		if v, ok := ctx[name]; ok {
			item(name, v)
		}
	}
	for _, m := range macs {
		item("MAC", m)
	}
	for _, name := range []string{"DeviceID", "EnrollmentType", "DeviceType", "OSVersion", "ApplicationVersion", "NotInOobe", "EnrollmentData"} {
		if v, ok := ctx[name]; ok {
			item(name, v)
		}
	}
	b.WriteString(`</ac:AdditionalContext></wst:RequestSecurityToken></s:Body></s:Envelope>`)
	return id, []byte(b.String())
}
