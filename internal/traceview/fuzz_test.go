package traceview

import (
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

// FuzzRead: any kept body, as a device may have shaped it, is read without
// a panic; a body read as XML is spelled by its segments, and its summary
// and certificates stay within their bounds.
func FuzzRead(f *testing.F) {
	for _, name := range capture.Names(f, "*.xml") {
		f.Add(trace.SOAP(capture.Read(f, name)))
		f.Add(trace.SyncML(capture.Read(f, name)))
	}
	f.Add(`<SyncML><SyncBody><Atomic><CmdID>1</CmdID><Atomic><Replace><Item><Data><![CDATA[x]]></Data></Item></Replace></Atomic></Atomic></SyncBody></SyncML>`)
	// Operations whose expected children are missing (a crash CI's fuzzing found).
	for _, op := range []string{"Discover", "GetPolicies", "RequestSecurityToken", "RequestSecurityTokenResponseCollection", "DiscoverResponse", "Fault"} {
		f.Add(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body><` + op + `/></s:Body></s:Envelope>`)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m := Read(body)
		if m.Format == FormatText {
			if m.Text != body {
				t.Fatal("text body changed")
			}
			return
		}
		if joinSegments(m.Segments) != m.XML {
			t.Fatal("segments do not spell the XML")
		}
		if len(m.Summary) > maxSummaryLines+1 || len(m.Certificates) > maxCertificates {
			t.Fatal("summary or certificates unbounded")
		}
	})
}
