package provdoc

import (
	"reflect"
	"sort"
	"testing"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// FuzzParse feeds the provisioning document reader (what a device, and the
// emulator, do with the server's answer) small hand-made documents in the
// shapes the server writes, and mutations of them. Whatever the input: no
// panic, exactly one of tree and error, and a tree that, written back as a
// wap-provisioningdoc, reads back the same.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`<wap-provisioningdoc version="1.1"><characteristic type="CertificateStore"><characteristic type="Root">` +
		`<characteristic type="System"><characteristic type="0123456789ABCDEF"><parm name="EncodedCertificate" value="MIIB"/>` +
		`</characteristic></characteristic></characteristic></characteristic>` +
		`<characteristic type="APPLICATION"><parm name="APPID" value="w7"/><parm name="ADDR" value="https://x/ManagementServer/MDM.svc"/>` +
		`<parm name="BACKCOMPATRETRYDISABLED"/><parm name="CONNRETRYFREQ" value="6" datatype="integer"/>` +
		`<characteristic type="APPAUTH"><parm name="AAUTHLEVEL" value="CLIENT"/><parm name="AAUTHDATA" value="bm9uY2U="/></characteristic>` +
		`</characteristic></wap-provisioningdoc>`))
	f.Add([]byte("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<wap-provisioningdoc version=\"1.1\">\n  <characteristic type=\"DMClient\">\n" +
		"    <characteristic type=\"Provider\"><characteristic type=\"caddy-mdm\"><parm name=\"EntDMID\" value=\"dev&amp;1\"/>" +
		"<parm name=\"PollOnLogin\" value=\"true\" datatype=\"boolean\"/></characteristic></characteristic>\n  </characteristic>\n</wap-provisioningdoc>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > capture.MaxFuzzInput {
			t.Skip()
		}
		n, err := Parse(data)
		if err != nil {
			if n != nil {
				t.Fatalf("both a tree and an error: %v", err)
			}
			return
		}
		if n == nil {
			t.Fatal("no tree and no error")
		}
		out := writeNode(n)
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("the tree written back does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(n, again) {
			t.Errorf("the tree written back reads differently:\n%s", out)
		}
	})
}

// writeNode writes a tree as a wap-provisioningdoc, parms sorted by name.
func writeNode(n *Node) []byte {
	doc := etree.NewDocument()
	root := doc.CreateElement("wap-provisioningdoc")
	root.CreateAttr("version", "1.1")
	if n.Type != "" {
		root.CreateAttr("type", n.Type)
	}
	writeChildren(root, n)
	b, err := doc.WriteToBytes()
	if err != nil {
		panic(err)
	}
	return b
}

func writeChildren(e *etree.Element, n *Node) {
	names := make([]string, 0, len(n.Parms))
	for name := range n.Parms {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := n.Parms[name]
		pe := e.CreateElement("parm")
		pe.CreateAttr("name", name)
		if p.HasValue {
			pe.CreateAttr("value", p.Value)
		}
		if p.Datatype != "" {
			pe.CreateAttr("datatype", p.Datatype)
		}
	}
	for _, c := range n.Children {
		ce := e.CreateElement("characteristic")
		ce.CreateAttr("type", c.Type)
		writeChildren(ce, c)
	}
}
