package xmltree

import (
	"github.com/beevik/etree"
)

// FastDocument builds the etree document etree's strict reader would build
// from data, from the events of the allocation-light scanner (names with
// one prefix allowed) instead of encoding/xml's tokenizer: a few times
// faster on the SOAP envelopes devices send. ok is false, and nothing is
// built, when data is outside the scanner's subset or starts with an XML
// declaration; the caller then reads it with etree, with the same result.
// Elements, attributes (a repeated one keeps its last value, as etree
// does), text (decoded, whitespace runs flagged as etree flags them) come
// out in etree's own shape.
func FastDocument(data []byte) (doc *etree.Document, ok bool) {
	if len(data) == 0 {
		return nil, false
	}
	doc = etree.NewDocument()
	doc.ReadSettings.Permissive = false
	var stack [maxScanDepth + 1]*etree.Element
	stack[0] = &doc.Element
	depth := 0
	var open *etree.Element // the element whose attributes are being read
	done := scanQualified(string(data), func(ev Event, name, value string) bool {
		switch ev {
		case StartEvent:
			open = stack[depth].CreateElement(name)
			depth++
			stack[depth] = open
		case AttrEvent:
			open.CreateAttr(name, value)
		case EndEvent:
			depth--
		case TextEvent:
			t := stack[depth].CreateText("")
			t.SetData(Unescape(value))
		default: // the XML declaration: etree keeps it as a ProcInst
			return false
		}
		return true
	})
	if !done {
		return nil, false
	}
	return doc, true
}
