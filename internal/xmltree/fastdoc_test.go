package xmltree

import (
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// readStrict is what FastDocument stands in for: etree's strict reader.
func readStrict(data []byte) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	return doc, doc.ReadFromBytes(data)
}

// sameTree describes the first difference between two trees ("" if none),
// down to what etree keeps of each token: names with their prefixes,
// attributes in order, text with its whitespace and CDATA flags.
func sameTree(a, b *etree.Element, path string) string {
	if a.Space != b.Space || a.Tag != b.Tag {
		return fmt.Sprintf("%s: element %s:%s / %s:%s", path, a.Space, a.Tag, b.Space, b.Tag)
	}
	if attrList(a) != attrList(b) {
		return fmt.Sprintf("%s: attributes %s / %s", path, attrList(a), attrList(b))
	}
	if len(a.Child) != len(b.Child) {
		return fmt.Sprintf("%s: %d / %d children", path, len(a.Child), len(b.Child))
	}
	for i := range a.Child {
		p := fmt.Sprintf("%s/%d", path, i)
		switch x := a.Child[i].(type) {
		case *etree.Element:
			y, ok := b.Child[i].(*etree.Element)
			if !ok {
				return p + ": element / " + fmt.Sprintf("%T", b.Child[i])
			}
			if d := sameTree(x, y, p+"/"+x.Tag); d != "" {
				return d
			}
		case *etree.CharData:
			y, ok := b.Child[i].(*etree.CharData)
			if !ok || x.Data != y.Data || x.IsWhitespace() != y.IsWhitespace() || x.IsCData() != y.IsCData() {
				return fmt.Sprintf("%s: text %q / %v", p, x.Data, b.Child[i])
			}
		default:
			return fmt.Sprintf("%s: a %T", p, x)
		}
	}
	return ""
}

func attrList(e *etree.Element) string {
	var b strings.Builder
	for _, a := range e.Attr {
		fmt.Fprintf(&b, "[%q %q %q]", a.Space, a.Key, a.Value)
	}
	return b.String()
}

// TestFastDocumentIsEtrees: on real device requests and shapes at the
// subset's edges, FastDocument builds etree's tree or declines.
func TestFastDocumentIsEtrees(t *testing.T) {
	docs := []string{
		`<s:a xmlns:s="u" x='1' x="2"><s:b>t&amp;u&#65;&#x42;</s:b> <c/>` + "\n\t" + `</s:a>`,
		`<a><b/>&lt;&gt;&quot;&apos;</a>`, `<a xmlns="d"><b xmlns:p="q" p:k="v"/></a>`,
		`<?xml version="1.0"?><a/>`, `<a><![CDATA[x]]></a>`, `<a><!-- c --></a>`, `<a:b:c/>`, "<a>\r\n</a>",
	}
	files := captures(t, "*.xml")
	for _, c := range files {
		docs = append(docs, string(c.data))
	}
	fast := 0
	for _, d := range docs {
		got, ok := FastDocument([]byte(d))
		want, err := readStrict([]byte(d))
		if !ok {
			continue
		}
		fast++
		if err != nil {
			t.Errorf("%q: built a tree etree refuses (%v)", d, err)
			continue
		}
		if diff := sameTree(&got.Element, &want.Element, ""); diff != "" {
			t.Errorf("%.60q: %s", d, diff)
		}
	}
	if fast < len(files)+3 {
		t.Errorf("only %d documents took the fast path", fast)
	}
	for _, c := range captures(t, "*-request.xml") {
		if _, ok := FastDocument(c.data); !ok {
			t.Errorf("%s: a captured SOAP request missed the fast path", c.name)
		}
	}
}

// FuzzFastDocument holds FastDocument to etree's strict reader on any
// input: whatever it builds, etree builds the same and accepts.
func FuzzFastDocument(f *testing.F) {
	for _, c := range captures(f, "*.xml") {
		f.Add(c.data)
	}
	f.Add([]byte(`<s:a xmlns:s="u" x='1' x="2"><s:b>t&amp;u&#65;</s:b> <c/></s:a>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			t.Skip()
		}
		got, ok := FastDocument(data)
		if !ok {
			return
		}
		want, err := readStrict(data)
		if err != nil {
			t.Fatalf("built a tree etree refuses: %v", err)
		}
		if diff := sameTree(&got.Element, &want.Element, ""); diff != "" {
			t.Fatal(diff)
		}
	})
}

// BenchmarkFastDocument compares building the tree of each captured
// request with FastDocument and with etree's reader.
func BenchmarkFastDocument(b *testing.B) {
	for _, c := range captures(b, "*-request.xml") {
		data := c.data
		b.Run("fast/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := FastDocument(data); !ok {
					b.Fatal("not on the fast path")
				}
			}
		})
		b.Run("etree/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := readStrict(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
