// Package traceview makes a device's kept exchanges readable by a person:
// each body indented, SyncML commands summarised one per line, the SOAP
// operation's facts listed, and the certificates a body carries (in a
// provisioning document, a PKCS#10 or a PKCS#7) decoded to subject,
// issuer, validity and thumbprint. `caddy mdm trace` prints it (Render);
// the console's trace page renders the same values as HTML.
//
// It only reads what internal/trace already redacted before the exchange
// was stored: it never un-redacts, and shows REDACTED as such. Bodies are
// parsed within limits; one that does not parse (cut at the store's
// bound, or an [unparsable body] summary) is shown as text.
package traceview

import (
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Exchange is one request and its answer, made readable.
type Exchange struct {
	At time.Time
	// Kind is enrollment, renewal or management.
	Kind string
	// Status is the HTTP status answered.
	Status            int
	Request, Response Message
}

// Formats of a Message.
const (
	FormatSOAP   = "soap"
	FormatSyncML = "syncml"
	FormatXML    = "xml"
	// FormatText is a body that is not one XML document: Text holds it.
	FormatText = "text"
)

// Message is one body.
type Message struct {
	Format string
	// Title says in one line what the body is.
	Title string
	// Summary is a SyncML message's commands, one per line, in order (the
	// children of Atomic and Sequence indented by two spaces), or the
	// facts of a SOAP operation.
	Summary []string
	// Certificates are those the body carries, decoded.
	Certificates []Certificate
	// XML is the whole body indented by two spaces ("" for FormatText).
	XML string
	// Text is the body as kept, for FormatText only.
	Text string
	// Segments is XML split for colouring: their Texts concatenated are XML.
	Segments []Segment
}

// Certificate is a certificate or a certificate request, decoded.
type Certificate struct {
	// Where the body carries it, e.g. CertificateStore/Root/System or
	// "PKCS#10 request".
	Where string
	// Subject is the RFC 4514 subject; for a request, its CN as sent
	// (non-printable bytes escaped).
	Subject string
	// Issuer is empty for a request.
	Issuer string
	// NotBefore and NotAfter are zero for a request.
	NotBefore, NotAfter time.Time
	// Thumbprint is the SHA-1 of the DER in upper-case hex, as Windows
	// names certificates in its stores; empty for a request.
	Thumbprint string
	// Serial is the serial number in upper-case hex.
	Serial string
	// KeyAlgorithm is e.g. "RSA 2048" or "ECDSA P-256".
	KeyAlgorithm string
	IsCA         bool
	// Error says why the blob did not decode; the other fields are then empty.
	Error string
}

// Segment classes.
const (
	ClassTag      = "tag"
	ClassAttr     = "attr"
	ClassValue    = "value"
	ClassText     = "text"
	ClassComment  = "comment"
	ClassRedacted = "redacted"
	ClassPunct    = "punct"
)

// Segment is a run of XML text of one class.
type Segment struct {
	Class string
	Text  string
}

// Build makes one exchange readable. It never fails: a body it cannot
// read is kept as text.
func Build(at time.Time, kind string, status int, request, response string) Exchange {
	return Exchange{At: at, Kind: kind, Status: status, Request: Read(request), Response: Read(response)}
}

// FromTrace makes a stored trace readable, oldest first.
func FromTrace(t *store.Trace) []Exchange {
	if t == nil {
		return nil
	}
	out := make([]Exchange, 0, len(t.Exchanges))
	for _, ex := range t.Exchanges {
		out = append(out, Build(ex.At, ex.Kind, ex.Status, ex.Request, ex.Response))
	}
	return out
}

// Read makes one body readable.
func Read(body string) Message {
	doc := parse(body)
	if doc == nil {
		return Message{Format: FormatText, Title: textTitle(body), Text: body}
	}
	root := doc.Root()
	m := Message{Format: FormatXML, Title: "<" + root.Tag + ">"}
	switch localLower(root.Tag) {
	case "syncml":
		m.Format = FormatSyncML
		m.Title, m.Summary = summarizeSyncML(root)
	case "envelope":
		m.Format = FormatSOAP
		m.Title, m.Summary = summarizeSOAP(root)
	}
	m.Certificates = certificates(root)
	m.Segments = indent(root)
	m.XML = joinSegments(m.Segments)
	return m
}

func textTitle(body string) string {
	switch {
	case body == "":
		return "(no body)"
	case len(body) > 0 && body[0] == '[':
		return "body not kept as XML"
	}
	return "body not readable as XML (cut at the trace bound?)"
}
