package xmltree

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"testing"
)

// TestCheckFastAgrees checks that the allocation-free count reaches the
// verdict encoding/xml's does, on real device messages, their mutations
// and shapes chosen to cross each bound.
func TestCheckFastAgrees(t *testing.T) {
	docs := []string{
		`<a><b x="1" y='2'>t&amp;u</b><c/></a>`,
		`<?xml version="1.0" encoding="UTF-8"?><a> <b/> </a>`,
		"  <a>\n<b>1</b>\n</a>  ",
		"<a>" + strings.Repeat("<b/>", 60) + "</a>",
		"<a" + strings.Repeat(` x="1"`, 2) + ">" + strings.Repeat("<b>t</b>", 30) + "</a>",
		strings.Repeat("<a>", 6) + strings.Repeat("</a>", 6),
		strings.Repeat("<a>", 70) + strings.Repeat("</a>", 70),
		`<a><!-- c --><b/></a>`, `<a><![CDATA[x]]></a>`, `<a><b></a>`, `<a>&nbsp;</a>`,
		`<s:a xmlns:s="u" s:x='1'><s:b>t</s:b><c/></s:a>`, `<s:a><t:b></s:b></s:a>`, `<s:a></t:a>`,
		`<a:b:c/>`, `<a: b/>`, `<:a/>`, `<a:/>`, `<a xmlns:="u"/>`, `<s:a x:y:z="1"/>`,
		strings.Repeat("<s:a>", 40) + strings.Repeat("</s:a>", 40),
	}
	files := captures(t, "*.xml")
	for _, c := range files {
		docs = append(docs, string(c.data))
	}
	rnd := rand.New(rand.NewSource(1))
	for _, d := range docs[len(docs)-len(files):] {
		for range 300 {
			b := []byte(d)
			for range 1 + rnd.Intn(3) {
				b[rnd.Intn(len(b))] = "<>/=\"'& \r\nab!?x"[rnd.Intn(15)]
			}
			docs = append(docs, string(b))
		}
	}
	fast := 0
	for _, l := range []Limits{{MaxNodes: 100, MaxDepth: 5}, {MaxNodes: 50000, MaxDepth: 34}, {MaxNodes: 30}, {MaxDepth: 3}} {
		for _, d := range docs {
			got, want := l.Check([]byte(d)), l.checkDecoder([]byte(d))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%+v on %q: Check %v, encoding/xml %v", l, d, got, want)
			}
			if _, ok := l.checkFast([]byte(d)); ok {
				fast++
			}
		}
	}
	if fast == 0 {
		t.Error("no document took the fast path")
	}
}

// TestCheckFastReadsEnvelopes checks that real SOAP requests, whose names
// all have prefixes, are counted on the fast path.
func TestCheckFastReadsEnvelopes(t *testing.T) {
	for _, c := range captures(t, "*-request.xml") {
		if err, ok := (Limits{MaxNodes: 4000, MaxDepth: 32}).checkFast(c.data); !ok || err != nil {
			t.Errorf("%s: fast path %v, %v", c.name, ok, err)
		}
	}
	// Scan itself still refuses prefixes (the SyncML reader relies on it).
	if Scan(`<s:a/>`, func(Event, string, string) bool { return true }) {
		t.Error("Scan accepted a prefixed name")
	}
}

// TestScanReadsDevices checks that real device messages are in Scan's
// subset.
func TestScanReadsDevices(t *testing.T) {
	for _, c := range captures(t, "*syncml*.xml") {
		if !Scan(string(c.data), func(Event, string, string) bool { return true }) {
			t.Errorf("%s: not in Scan's subset", c.name)
		}
	}
}

// FuzzCheck holds the allocation-free count to encoding/xml's verdict on
// any input, and Scan (with prefixes, so the wider reader) to never
// accepting what encoding/xml refuses.
func FuzzCheck(f *testing.F) {
	for _, c := range captures(f, "*.xml") {
		f.Add(c.data)
	}
	f.Add([]byte(`<?xml version="1.0"?><a x='1'><b>&lt;&#x41;</b><c/></a>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			t.Skip()
		}
		for _, l := range []Limits{{MaxNodes: 40, MaxDepth: 4}, {MaxNodes: 50000, MaxDepth: 34}} {
			if got, want := l.Check(data), l.checkDecoder(data); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%+v: Check %v, encoding/xml %v", l, got, want)
			}
		}
		if scanQualified(string(data), func(Event, string, string) bool { return true }) {
			d := xml.NewDecoder(bytes.NewReader(data))
			for {
				_, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Scan accepted what encoding/xml refuses: %v", err)
				}
			}
		}
	})
}

// BenchmarkLimitsCheck is the parse-limit check of each captured request,
// as every SOAP and SyncML request pays it before its tree is built.
func BenchmarkLimitsCheck(b *testing.B) {
	for _, c := range captures(b, "*.xml") {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := (Limits{MaxNodes: 4000, MaxDepth: 32}).Check(c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
