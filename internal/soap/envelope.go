package soap

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/xmltree"
)

// MaxDepth bounds element nesting in a request; enrollment messages are at
// most a dozen levels deep, and the bound keeps a hostile body from costing
// more than its size.
const MaxDepth = 64

// Envelope is a parsed SOAP request: its addressing headers, the credentials
// of its wsse:Security header, and its body element.
type Envelope struct {
	Action    string
	MessageID string
	To        string
	// ActivityID is not read from the request: the server sets it to the
	// exchange's trace ID, and the response echoes it as its ActivityId.
	ActivityID string
	Security   Security
	// Body is the first child element of s:Body.
	Body *etree.Element
}

// Security holds what a wsse:Security header carried. At most one kind of
// credential is expected; both are kept so the caller can refuse ambiguity.
type Security struct {
	Username string
	Password string
	// PasswordType is the wsse:Password Type attribute (PasswordText expected).
	PasswordType string
	// Token is a BinarySecurityToken in the header (federated tokens).
	Token *BinaryToken
}

// BinaryToken is a wsse:BinarySecurityToken: its ValueType, EncodingType and
// raw (still encoded) text.
type BinaryToken struct {
	ValueType    string
	EncodingType string
	Value        string
}

// ErrMalformed wraps every error Parse returns, so callers can answer
// with a MessageFormat fault.
var ErrMalformed = errors.New("malformed SOAP message")

// Parse reads one SOAP envelope. It rejects anything that is not well-formed
// XML with a SOAP 1.2 Envelope root (namespace NSSoap) holding a Body with
// one element in it.
func Parse(data []byte) (*Envelope, error) {
	data = bytes.TrimSpace(data)
	// The envelopes devices send are read without encoding/xml's tokenizer;
	// anything else (an XML declaration, comments, CDATA) by etree itself,
	// into the same tree.
	doc, ok := xmltree.FastDocument(data)
	if !ok {
		doc = etree.NewDocument()
		doc.ReadSettings.Permissive = false
		if err := doc.ReadFromBytes(data); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	root := doc.Root()
	if root == nil || root.Tag != "Envelope" {
		return nil, fmt.Errorf("%w: root element is not a SOAP Envelope", ErrMalformed)
	}
	// Only the root's namespace is strict: devices send SOAP 1.2 and
	// nothing else, while the elements inside are matched by local name
	// (addressing and enrollment namespaces vary in their trailing slash).
	if ns := root.NamespaceURI(); ns != NSSoap {
		return nil, fmt.Errorf("%w: not a SOAP 1.2 envelope: namespace %q", ErrMalformed, quote.Bound(ns, 120))
	}
	if xmltree.TooDeep(root, MaxDepth) {
		return nil, fmt.Errorf("%w: elements nested deeper than %d", ErrMalformed, MaxDepth)
	}
	env := &Envelope{}
	if hdr := Child(root, "Header"); hdr != nil {
		env.Action = Text(Child(hdr, "Action"))
		env.MessageID = Text(Child(hdr, "MessageID"))
		env.To = Text(Child(hdr, "To"))
		if sec := Child(hdr, "Security"); sec != nil {
			env.Security = parseSecurity(sec)
		}
	}
	body := Child(root, "Body")
	if body == nil {
		return nil, fmt.Errorf("%w: no Body", ErrMalformed)
	}
	if len(body.ChildElements()) == 0 {
		return nil, fmt.Errorf("%w: empty Body", ErrMalformed)
	}
	env.Body = body.ChildElements()[0]
	return env, nil
}

func parseSecurity(sec *etree.Element) Security {
	var s Security
	if ut := Child(sec, "UsernameToken"); ut != nil {
		s.Username = Text(Child(ut, "Username"))
		if pw := Child(ut, "Password"); pw != nil {
			s.Password = passwordText(pw.Text())
			s.PasswordType = attrLocal(pw, "Type")
		}
	}
	if bst := Child(sec, "BinarySecurityToken"); bst != nil {
		s.Token = ReadBinaryToken(bst)
	}
	return s
}

// passwordText is the password a UsernameToken carries. Windows sends it
// exactly as typed, spaces included, and it is kept so; but a password
// split from its closing tag by a line break (as MS-MDE2's own examples
// are written, "mypassword" then a newline and indentation) was
// pretty-printed, since no one types a line break into the password box:
// that layout's leading and trailing whitespace is dropped.
func passwordText(text string) string {
	if strings.ContainsAny(text, "\r\n") {
		return strings.Trim(text, " \t\r\n")
	}
	return text
}

// ReadBinaryToken returns the value type, encoding and text of a
// BinarySecurityToken element.
func ReadBinaryToken(e *etree.Element) *BinaryToken {
	return &BinaryToken{
		ValueType:    attrLocal(e, "ValueType"),
		EncodingType: attrLocal(e, "EncodingType"),
		Value:        strings.TrimSpace(e.Text()),
	}
}

// Child returns the first child element of e with the given local name,
// whatever its namespace, or nil.
func Child(e *etree.Element, local string) *etree.Element { return xmltree.Child(e, local) }

// Children returns every child element of e with the given local name.
func Children(e *etree.Element, local string) []*etree.Element { return xmltree.Children(e, local) }

// Path follows local names down from e: Path(e, "a", "b") is e/a/b.
func Path(e *etree.Element, locals ...string) *etree.Element {
	for _, l := range locals {
		e = Child(e, l)
	}
	return e
}

// Text returns the trimmed text of e, or "" for nil.
func Text(e *etree.Element) string { return xmltree.Text(e) }

// attrLocal returns the value of the attribute with the given local name,
// whatever its prefix.
func attrLocal(e *etree.Element, local string) string {
	for _, a := range e.Attr {
		if a.Key == local {
			return a.Value
		}
	}
	return ""
}
