package soap

import (
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// FuzzParse feeds Parse the envelopes real devices sent, and mutations of
// them and of a federated envelope (a BinarySecurityToken in wsse:Security,
// which no capture has). Whatever the input: no panic, exactly one of
// envelope and error, every error an ErrMalformed, and a parsed envelope
// that is what Parse promises (a SOAP 1.2 Envelope root within MaxDepth, a
// Body element, trimmed header texts and token value). Written out again
// and re-parsed, the envelope reads the same: addressing, the
// UsernameToken and BinarySecurityToken extraction, and the body element.
func FuzzParse(f *testing.F) {
	capture.Seed(f, "*-discovery-request.xml", "*-policy-request.xml", "*-enroll-request.xml")
	f.Add([]byte(`<s:Envelope xmlns:s="` + NSSoap + `" xmlns:a="` + NSAddressing + `"><s:Header>` +
		`<a:Action s:mustUnderstand="1">` + ActionGetPolicies + `</a:Action><a:MessageID>urn:uuid:1</a:MessageID>` +
		`<a:To>https://x/EnrollmentServer/Policy.svc</a:To>` +
		`<wsse:Security xmlns:wsse="` + NSSecurity + `"><wsse:BinarySecurityToken ValueType="` + ValueTypeUserToken +
		`" EncodingType="` + EncodingTypeBase64Binary + `"> dG9rZW4= </wsse:BinarySecurityToken></wsse:Security>` +
		`</s:Header><s:Body><GetPolicies xmlns="` + NSPolicy + `"/></s:Body></s:Envelope>`))
	f.Add([]byte(`<s:Envelope xmlns:s="` + NSSoap + `"><s:Header><o:Security xmlns:o="` + NSSecurity + `">` +
		`<o:UsernameToken><o:Username>u</o:Username><o:Password o:Type="#PasswordText">p w</o:Password></o:UsernameToken>` +
		`</o:Security></s:Header><s:Body><x/></s:Body></s:Envelope>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > capture.MaxFuzzInput {
			t.Skip()
		}
		env, err := Parse(data)
		if err != nil {
			if env != nil {
				t.Fatalf("both an envelope and an error: %v", err)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if env == nil || env.Body == nil {
			t.Fatalf("no envelope and no error: %+v", env)
		}
		root := env.Body.Parent().Parent()
		if root == nil || root.Tag != "Envelope" || root.NamespaceURI() != NSSoap || env.Body.Parent().Tag != "Body" {
			t.Fatal("Body is not the first element of an Envelope's Body")
		}
		for name, s := range map[string]string{"Action": env.Action, "MessageID": env.MessageID, "To": env.To, "Username": env.Security.Username} {
			if s != strings.TrimSpace(s) {
				t.Fatalf("%s %q is not trimmed", name, s)
			}
		}
		if tok := env.Security.Token; tok != nil && tok.Value != strings.TrimSpace(tok.Value) {
			t.Fatalf("token value %q is not trimmed", tok.Value)
		}

		doc := etree.NewDocument()
		doc.SetRoot(root.Copy())
		out, err := doc.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("the envelope written out does not parse: %v\n%s", err, out)
		}
		if again.Action != env.Action || again.MessageID != env.MessageID || again.To != env.To {
			t.Errorf("addressing %q %q %q became %q %q %q", env.Action, env.MessageID, env.To, again.Action, again.MessageID, again.To)
		}
		s, s2 := env.Security, again.Security
		if s.Username != s2.Username || s.Password != s2.Password || s.PasswordType != s2.PasswordType {
			t.Errorf("UsernameToken %q %q %q became %q %q %q", s.Username, s.Password, s.PasswordType, s2.Username, s2.Password, s2.PasswordType)
		}
		if (s.Token == nil) != (s2.Token == nil) || s.Token != nil && *s.Token != *s2.Token {
			t.Errorf("BinarySecurityToken %+v became %+v", s.Token, s2.Token)
		}
		if again.Body.Tag != env.Body.Tag || again.Body.NamespaceURI() != env.Body.NamespaceURI() {
			t.Errorf("body %s in %q became %s in %q", env.Body.Tag, env.Body.NamespaceURI(), again.Body.Tag, again.Body.NamespaceURI())
		}
	})
}
