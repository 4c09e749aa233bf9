package soap

import (
	"time"

	"github.com/beevik/etree"
)

// Response is a SOAP 1.2 envelope under construction, with the s and a
// prefixes declared on the root as Microsoft's examples do.
type Response struct {
	doc    *etree.Document
	Header *etree.Element
	Body   *etree.Element
}

// NewResponse starts the answer to req: its header carries the Action (with
// s:mustUnderstand), the ActivityId of the exchange and, when the request
// had a MessageID, a:RelatesTo, in the order of Microsoft's examples and of
// the answers real devices enrolled with.
func NewResponse(action string, req *Envelope) *Response {
	var relatesTo, activityID string
	if req != nil {
		relatesTo, activityID = req.MessageID, req.ActivityID
	}
	return newResponse(action, relatesTo, activityID)
}

func newResponse(action, relatesTo, activityID string) *Response {
	doc := etree.NewDocument()
	env := doc.CreateElement("s:Envelope")
	env.CreateAttr("xmlns:s", NSSoap)
	env.CreateAttr("xmlns:a", NSAddressing)
	hdr := env.CreateElement("s:Header")
	act := hdr.CreateElement("a:Action")
	act.CreateAttr("s:mustUnderstand", "1")
	act.SetText(action)
	if activityID != "" {
		aid := hdr.CreateElement("ActivityId")
		aid.CreateAttr("CorrelationId", activityID)
		aid.CreateAttr("xmlns", NSDiagnostics)
		aid.SetText(activityID)
	}
	if relatesTo != "" {
		hdr.CreateElement("a:RelatesTo").SetText(relatesTo)
	}
	body := env.CreateElement("s:Body")
	return &Response{doc: doc, Header: hdr, Body: body}
}

// AddTimestamp adds the wsse:Security/u:Timestamp header that MS-WSTEP
// responses carry, valid from now for the given duration.
func (r *Response) AddTimestamp(now time.Time, valid time.Duration) {
	root := r.doc.Root()
	root.CreateAttr("xmlns:u", NSUtility)
	sec := r.Header.CreateElement("o:Security")
	sec.CreateAttr("xmlns:o", NSSecurity)
	sec.CreateAttr("s:mustUnderstand", "1")
	ts := sec.CreateElement("u:Timestamp")
	ts.CreateAttr("u:Id", "_0")
	ts.CreateElement("u:Created").SetText(now.UTC().Format("2006-01-02T15:04:05.000Z"))
	ts.CreateElement("u:Expires").SetText(now.Add(valid).UTC().Format("2006-01-02T15:04:05.000Z"))
}

// Bytes serializes the envelope without indentation or XML declaration.
func (r *Response) Bytes() []byte {
	b, err := r.doc.WriteToBytes()
	if err != nil {
		// Writing an in-memory tree to a buffer cannot fail.
		panic(err)
	}
	return b
}

// ContentType is the media type of every SOAP 1.2 response.
const ContentType = "application/soap+xml; charset=utf-8"
