// Package xmltree holds the few etree helpers the protocol parsers share:
// children by local name (namespaces vary between devices and documents,
// pitfall P3), trimmed text, and a nesting bound.
package xmltree

import (
	"strings"

	"github.com/beevik/etree"
)

// Child returns the first child element of e with the given local name,
// whatever its namespace, or nil.
func Child(e *etree.Element, local string) *etree.Element {
	if e == nil {
		return nil
	}
	// e.Child directly: ChildElements would allocate a slice per call.
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok && c.Tag == local {
			return c
		}
	}
	return nil
}

// Children returns every child element of e with the given local name.
func Children(e *etree.Element, local string) []*etree.Element {
	if e == nil {
		return nil
	}
	var out []*etree.Element
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok && c.Tag == local {
			out = append(out, c)
		}
	}
	return out
}

// Text returns the trimmed text of e, or "" for nil.
func Text(e *etree.Element) string {
	if e == nil {
		return ""
	}
	return strings.TrimSpace(e.Text())
}

// TooDeep reports whether e has elements nested more than max levels below
// it; it stops descending at the bound.
func TooDeep(e *etree.Element, max int) bool {
	return tooDeep(e, 0, max)
}

func tooDeep(e *etree.Element, d, max int) bool {
	if d > max {
		return true
	}
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok && tooDeep(c, d+1, max) {
			return true
		}
	}
	return false
}

// InnerXML writes an element's content (child elements and text) as an
// XML fragment, as SyncML keeps Data that holds XML (a node list's
// Results, a WlanXml profile) verbatim.
func InnerXML(e *etree.Element) string {
	inner := etree.NewDocument()
	for _, tok := range e.Child {
		switch t := tok.(type) {
		case *etree.Element:
			inner.AddChild(t.Copy())
		case *etree.CharData:
			inner.CreateText(t.Data)
		}
	}
	s, _ := inner.WriteToString()
	return s
}
