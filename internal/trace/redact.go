// Package trace makes exchanges with devices readable without exposing
// secrets (pitfall P16), for debug logs, device traces and the admin API.
//
// Bodies are redacted on their parsed tree, never with patterns on the
// text: a body is parsed (github.com/beevik/etree), every element is judged
// by its local name whatever its prefix or namespace, secret content and
// attribute values are replaced by REDACTED, and the tree is written out
// again. CDATA counts as text. A body that does not parse (not well-formed,
// truncated, empty, or not one root element) is never returned: Summary
// stands in for it.
//
// Secret are: elements and attributes with a SecretName (wsse:Password,
// ...); BinarySecurityTokens other than a PKCS#10, a PKCS#7 or a
// provisioning document (federated and Entra tokens, DeviceEnrollmentUserToken,
// jwt, and anything unknown); the Data of a SyncML Cred (digest
// credentials); provisioning document parms whose name is a SecretName
// (AAUTHSECRET, EnrollmentToken, ...); the Data of SyncML Items whose
// Target or Source LocURI is a SecretURI (WlanXml, VPNv2 ProfileXML, ...);
// the value of the digest session token in a RespURI or LocURI (the rest
// of the URL stays readable); and, given their CmdIDs, the Data of every
// Item of sensitive commands.
// A provisioning document BinarySecurityToken is decoded inline, itself
// redacted, so a trace shows what the device was told.
package trace

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/xmltree"
)

// Redacted replaces every secret value.
const Redacted = "REDACTED"

// SOAP redacts an enrollment request or response (discovery, policy,
// WS-Trust). A provisioning document in a response is decoded inline (its
// secrets redacted), as the base64 would tell a reader nothing.
func SOAP(body []byte) string {
	return redactBody(body, nil)
}

// SyncML redacts an OMA-DM message: the digest credentials (Cred), the
// Data of Items whose LocURI is a SecretURI, and the Data of every Item
// under the commands whose CmdID is listed (nested Atomic/Sequence
// commands included): sensitive commands in a server message, Results
// answering them in a device message.
func SyncML(body []byte, sensitiveCmdIDs ...string) string {
	var set map[string]bool
	if len(sensitiveCmdIDs) > 0 {
		set = make(map[string]bool, len(sensitiveCmdIDs))
		for _, id := range sensitiveCmdIDs {
			set[strings.TrimSpace(id)] = true
		}
	}
	return redactBody(body, set)
}

// ProvisioningDocument redacts a wap-provisioningdoc: the values of parms
// named AAUTHSECRET, EnrollmentToken or any other SecretName. A document
// that does not parse comes back as its Summary.
func ProvisioningDocument(doc []byte) []byte {
	return []byte(redactBody(doc, nil))
}

// Summary is what stands in for a body that cannot be redacted: its size
// and the start of its SHA-256, enough to match it with what a device or
// proxy logged, nothing of its content.
func Summary(body []byte) string {
	if len(body) == 0 {
		return "[empty body]"
	}
	sum := sha256.Sum256(body)
	return fmt.Sprintf("[unparsable body: %d bytes, sha256 %s…]", len(body), hex.EncodeToString(sum[:8]))
}

func redactBody(body []byte, sensitive map[string]bool) string {
	doc := parse(body)
	if doc == nil {
		return Summary(body)
	}
	r := redactor{sensitive: sensitive}
	r.element(doc.Root(), scope{})
	out, err := doc.WriteToString()
	if err != nil {
		return Summary(body)
	}
	return out
}

// parseLimits bound the tree built to redact a body, which may come from
// anyone: a body beyond them is summarized, not parsed.
var parseLimits = xmltree.Limits{MaxNodes: 100000, MaxDepth: 128}

// parse reads a body into a document holding exactly its one root element
// (no declaration, no doctype), or returns nil. Go's decoder accepts text
// and further elements beside the root; they are refused here, as they
// would otherwise pass through unjudged.
func parse(body []byte) *etree.Document {
	if len(bytes.TrimSpace(body)) == 0 || parseLimits.Check(body) != nil {
		return nil
	}
	doc := etree.NewDocument()
	doc.ReadSettings.PreserveCData = true
	if err := doc.ReadFromBytes(body); err != nil {
		return nil
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil
			}
			root = t
		case *etree.CharData:
			if t.IsCData() || strings.TrimSpace(t.Data) != "" {
				return nil
			}
		}
	}
	if root == nil {
		return nil
	}
	out := etree.NewDocument()
	out.SetRoot(root)
	return out
}

// redactor walks one tree.
type redactor struct {
	// sensitive are the CmdIDs whose Items' Data is secret.
	sensitive map[string]bool
}

// scope is what an element inherits from its ancestors.
type scope struct {
	// sensitive: inside a command whose CmdID is sensitive.
	sensitive bool
	// cred: inside a SyncML Cred, whose Data is a credential.
	cred bool
}

func (r *redactor) element(e *etree.Element, sc scope) {
	name := strings.ToLower(localName(e.Tag))
	for i := range e.Attr {
		if SecretName(e.Attr[i].Key) {
			e.Attr[i].Value = Redacted
		}
	}
	switch {
	case SecretName(name), sc.cred && name == "data":
		wipe(e)
		return
	case name == "binarysecuritytoken":
		r.token(e)
		return
	case name == "parm" && secretParm(e):
		for i := range e.Attr {
			if strings.EqualFold(localName(e.Attr[i].Key), "value") {
				e.Attr[i].Value = Redacted
			}
		}
		wipe(e)
		return
	case name == "cred":
		sc.cred = true
	case uriElement(name):
		redactURI(e)
	}
	if !sc.sensitive && r.sensitive != nil {
		for _, c := range e.ChildElements() {
			if strings.EqualFold(localName(c.Tag), "CmdID") && r.sensitive[strings.TrimSpace(c.Text())] {
				sc.sensitive = true
			}
		}
	}
	if name == "item" && (sc.sensitive || secretItem(e)) {
		for _, c := range e.ChildElements() {
			if strings.EqualFold(localName(c.Tag), "Data") {
				wipe(c)
			}
		}
	}
	r.children(e, sc)
}

// children redacts the child elements of e and drops its directives and
// processing instructions, which no reader needs.
func (r *redactor) children(e *etree.Element, sc scope) {
	for i := 0; i < len(e.Child); {
		switch t := e.Child[i].(type) {
		case *etree.Directive, *etree.ProcInst:
			e.RemoveChildAt(i)
			continue
		case *etree.Element:
			r.element(t, sc)
		}
		i++
	}
}

// Kinds of BinarySecurityToken.
const (
	tokenSecret = iota
	tokenPublic
	tokenProvisioningDocument
)

// token redacts a BinarySecurityToken unless it is a certificate request or
// chain; a provisioning document is decoded and redacted.
func (r *redactor) token(e *etree.Element) {
	switch tokenKind(e) {
	case tokenPublic:
		r.children(e, scope{})
	case tokenProvisioningDocument:
		r.provisioningDocument(e)
	default:
		wipe(e)
	}
}

// tokenKind judges a token by its ValueType; a token with none, or with
// several that disagree, is secret.
func tokenKind(e *etree.Element) int {
	kind := -1
	for _, a := range e.Attr {
		if !strings.EqualFold(localName(a.Key), "ValueType") {
			continue
		}
		k := tokenSecret
		switch v := strings.ToLower(strings.TrimSpace(a.Value)); {
		case strings.HasSuffix(v, "#pkcs10"), strings.HasSuffix(v, "#pkcs7"):
			k = tokenPublic
		case strings.HasSuffix(v, "/deviceenrollmentprovisiondoc"):
			k = tokenProvisioningDocument
		}
		if kind != -1 && kind != k {
			return tokenSecret
		}
		kind = k
	}
	if kind == -1 {
		return tokenSecret
	}
	return kind
}

// provisioningDocument replaces the base64 of a provisioning document token
// with the document itself, redacted, after a "decoded" comment. A token
// that does not decode to one XML document is redacted whole.
func (r *redactor) provisioningDocument(e *etree.Element) {
	var b64 strings.Builder
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.CharData:
			b64.WriteString(t.Data)
		case *etree.Element:
			wipe(e)
			return
		}
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64.String()), ""))
	if err != nil {
		wipe(e)
		return
	}
	doc := parse(raw)
	if doc == nil {
		wipe(e)
		return
	}
	root := doc.Root()
	r.element(root, scope{})
	e.Child = nil
	e.CreateComment(" decoded ")
	e.AddChild(root)
}

// secretParm reports whether a provisioning document parm holds a secret:
// any of its name attributes is a SecretName.
func secretParm(e *etree.Element) bool {
	for _, a := range e.Attr {
		if strings.EqualFold(localName(a.Key), "name") && SecretName(strings.TrimSpace(a.Value)) {
			return true
		}
	}
	return false
}

// secretItem reports whether a SyncML Item's Target or Source LocURI names
// a secret node, or its Meta Type is a credential (the Entra user token of
// Alert 1224, com.microsoft/MDM/AADUserToken).
func secretItem(item *etree.Element) bool {
	for _, c := range item.ChildElements() {
		switch strings.ToLower(localName(c.Tag)) {
		case "meta":
			for _, m := range c.ChildElements() {
				if strings.EqualFold(localName(m.Tag), "Type") && strings.EqualFold(strings.TrimSpace(m.Text()), aadUserTokenType) {
					return true
				}
			}
		case "target", "source":
			for _, u := range c.ChildElements() {
				if strings.EqualFold(localName(u.Tag), "LocURI") && SecretURI(u.Text()) {
					return true
				}
			}
		}
	}
	return false
}

// aadUserTokenType is the Meta Type of a user token item (omadm.AADUserTokenType).
const aadUserTokenType = "com.microsoft/MDM/AADUserToken"

// wipe replaces everything inside e (text, CDATA, elements, comments) with
// REDACTED; an empty element stays empty.
func wipe(e *etree.Element) {
	if len(e.Child) == 0 {
		return
	}
	e.Child = nil
	e.SetText(Redacted)
}

// Deferred is a redaction done only when a log entry is written: a
// zap.Stringer field costs nothing at a level that is off.
type Deferred func() string

func (d Deferred) String() string { return d() }
