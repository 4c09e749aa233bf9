package traceview

import (
	"strings"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/xmltree"
)

// maxBody bounds a body this package parses; kept bodies are far smaller
// (store.MaxTraceBody), a larger one is shown as text.
const maxBody = 1 << 20

// limits bound the tree built for one body.
var limits = xmltree.Limits{MaxNodes: 100000, MaxDepth: 128}

// redacted is what internal/trace puts in place of a secret.
const redacted = "REDACTED"

// parse reads a body holding one root element, or returns nil.
func parse(body string) *etree.Document {
	trimmed := strings.TrimSpace(body)
	if trimmed == "" || len(body) > maxBody || trimmed[0] != '<' || limits.Check([]byte(body)) != nil {
		return nil
	}
	doc := etree.NewDocument()
	doc.ReadSettings.PreserveCData = true
	if err := doc.ReadFromString(body); err != nil || doc.Root() == nil {
		return nil
	}
	roots := 0
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			roots++
		case *etree.CharData:
			if t.IsCData() || strings.TrimSpace(t.Data) != "" {
				return nil
			}
		}
	}
	if roots != 1 {
		return nil
	}
	return doc
}

// indent writes an element tree two spaces per level, as segments: an
// element holding only text stays on one line, others open and close on
// lines of their own.
func indent(root *etree.Element) []Segment {
	w := &segWriter{}
	w.element(root, 0)
	return w.segs
}

type segWriter struct {
	segs []Segment
}

func (w *segWriter) add(class, text string) {
	if text == "" {
		return
	}
	if n := len(w.segs); n > 0 && w.segs[n-1].Class == class {
		w.segs[n-1].Text += text
		return
	}
	w.segs = append(w.segs, Segment{Class: class, Text: text})
}

func (w *segWriter) pad(depth int) { w.add(ClassPunct, strings.Repeat("  ", depth)) }

func (w *segWriter) element(e *etree.Element, depth int) {
	w.pad(depth)
	w.add(ClassTag, "<"+e.FullTag())
	for _, a := range e.Attr {
		w.add(ClassPunct, " ")
		w.add(ClassAttr, a.FullKey())
		w.add(ClassPunct, `="`)
		class := ClassValue
		if a.Value == redacted {
			class = ClassRedacted
		}
		w.add(class, escapeAttr(a.Value))
		w.add(ClassPunct, `"`)
	}
	var kids []etree.Token
	onlyText := true
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.CharData:
			if !t.IsCData() && strings.TrimSpace(t.Data) == "" {
				continue
			}
		case *etree.Element, *etree.Comment:
			onlyText = false
		default:
			continue // directives and processing instructions: nothing to read
		}
		kids = append(kids, t)
	}
	if len(kids) == 0 {
		w.add(ClassTag, "/>")
		w.add(ClassPunct, "\n")
		return
	}
	w.add(ClassTag, ">")
	if onlyText {
		for _, t := range kids {
			w.charData(t.(*etree.CharData), false)
		}
	} else {
		w.add(ClassPunct, "\n")
		for _, t := range kids {
			switch t := t.(type) {
			case *etree.Element:
				w.element(t, depth+1)
			case *etree.Comment:
				w.pad(depth + 1)
				w.add(ClassComment, "<!--"+t.Data+"-->")
				w.add(ClassPunct, "\n")
			case *etree.CharData:
				w.pad(depth + 1)
				w.charData(t, true)
				w.add(ClassPunct, "\n")
			}
		}
		w.pad(depth)
	}
	w.add(ClassTag, "</"+e.FullTag()+">")
	w.add(ClassPunct, "\n")
}

func (w *segWriter) charData(t *etree.CharData, trim bool) {
	data := t.Data
	if trim {
		data = strings.TrimSpace(data)
	}
	switch {
	case t.IsCData():
		w.add(ClassText, "<![CDATA["+data+"]]>")
	case strings.TrimSpace(data) == redacted:
		w.add(ClassRedacted, escapeText(data))
	default:
		w.add(ClassText, escapeText(data))
	}
}

var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", `"`, "&quot;", "\n", "&#xA;", "\t", "&#x9;", "\r", "&#xD;")
)

func escapeText(s string) string { return textEscaper.Replace(s) }
func escapeAttr(s string) string { return attrEscaper.Replace(s) }

func joinSegments(segs []Segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteString(s.Text)
	}
	return b.String()
}

// localLower is the local name of a tag or key, lower-cased.
func localLower(tag string) string {
	if i := strings.LastIndexByte(tag, ':'); i >= 0 {
		tag = tag[i+1:]
	}
	return strings.ToLower(tag)
}

// child returns the first child element of e with that local name (any
// case), or nil.
func child(e *etree.Element, local string) *etree.Element {
	if e == nil {
		return nil
	}
	for _, c := range e.ChildElements() {
		if strings.EqualFold(localLower(c.Tag), local) {
			return c
		}
	}
	return nil
}

// path follows child elements by local name.
func path(e *etree.Element, locals ...string) *etree.Element {
	for _, l := range locals {
		e = child(e, l)
	}
	return e
}

// text is the trimmed text of e ("" for nil).
func text(e *etree.Element) string {
	if e == nil {
		return ""
	}
	return strings.TrimSpace(e.Text())
}

// find returns the first element below e (depth first) with that local name.
func find(e *etree.Element, local string) *etree.Element {
	if e == nil {
		return nil
	}
	for _, c := range e.ChildElements() {
		if localLower(c.Tag) == local {
			return c
		}
		if f := find(c, local); f != nil {
			return f
		}
	}
	return nil
}

// attr returns the value of e's attribute with that local name (any case).
func attr(e *etree.Element, local string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.Attr {
		if localLower(a.Key) == local {
			return a.Value
		}
	}
	return ""
}
