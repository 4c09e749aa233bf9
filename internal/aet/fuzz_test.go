package aet

import (
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// FuzzParse feeds the .aetx reader small hand-made files in each spelling
// it accepts (AETGenerator's AETId/AETToken, EnterpriseId/EnrollmentToken,
// PublisherId, a namespace, nesting) and mutations of them. Whatever the
// input: no panic, exactly one of token and error, and a token with both
// values, trimmed, that written as a minimal .aetx reads back the same.
func FuzzParse(f *testing.F) {
	for _, doc := range []string{
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AET xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n  <AETId>4000000001</AETId>\n  <AETToken>MIIGbTCCBVWgAwIBAgIQ</AETToken>\n</AET>",
		"<AET><EnterpriseId>7</EnterpriseId><EnrollmentToken> T </EnrollmentToken></AET>",
		`<a:AET xmlns:a="urn:x"><a:Data><a:PublisherId>8</a:PublisherId><a:aettoken>x&amp;y</a:aettoken></a:Data></a:AET>`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > capture.MaxFuzzInput {
			t.Skip()
		}
		tok, err := Parse(data)
		if err != nil {
			if tok != nil {
				t.Fatalf("both a token and an error: %v", err)
			}
			return
		}
		if tok == nil {
			t.Fatal("no token and no error")
		}
		if tok.EnterpriseID == "" || tok.EnrollmentToken == "" ||
			tok.EnterpriseID != strings.TrimSpace(tok.EnterpriseID) || tok.EnrollmentToken != strings.TrimSpace(tok.EnrollmentToken) {
			t.Fatalf("token %+v: empty or untrimmed values", tok)
		}
		doc := etree.NewDocument()
		root := doc.CreateElement("AET")
		root.CreateElement("AETId").SetText(tok.EnterpriseID)
		root.CreateElement("AETToken").SetText(tok.EnrollmentToken)
		out, err := doc.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil || *again != *tok {
			t.Errorf("token %+v written as %s reads back %+v, %v", tok, out, again, err)
		}
	})
}
