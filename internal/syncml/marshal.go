package syncml

import (
	"bytes"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// Marshal writes a message with the SyncML namespace on the root and the
// metinf namespace on every Meta child, as Windows expects. It writes the
// bytes directly, exactly as building an etree document and writing it
// did (no declaration, no indentation, empty elements as <X/>, etree's
// escaping): TestMarshalMatchesTree compares the two.
func Marshal(m *Message) []byte {
	w := writer{b: make([]byte, 0, 1024)}
	w.raw(`<SyncML xmlns="` + NS + `"><SyncHdr>`)
	w.header(&m.Header)
	w.raw("</SyncHdr>")
	if len(m.Commands) == 0 && !m.Final {
		w.raw("<SyncBody/>")
	} else {
		w.raw("<SyncBody>")
		for _, c := range m.Commands {
			w.command(c)
		}
		if m.Final {
			w.raw("<Final/>")
		}
		w.raw("</SyncBody>")
	}
	w.raw("</SyncML>")
	return w.b
}

// Size is the marshaled size of one command, used to fill a message up to
// the device's MaxMsgSize.
func Size(c *Command) int {
	var w writer
	w.command(c)
	return len(w.b)
}

type writer struct{ b []byte }

func (w *writer) raw(s string) { w.b = append(w.b, s...) }

// elem writes <name>text</name>, or <name/> for empty text.
func (w *writer) elem(name, text string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	if text == "" {
		w.b = append(w.b, "/>"...)
		return
	}
	w.b = append(w.b, '>')
	w.escape(text)
	w.b = append(w.b, "</"...)
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

func (w *writer) open(name string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

func (w *writer) close(name string) {
	w.b = append(w.b, "</"...)
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

func (w *writer) header(h *Header) {
	w.elem("VerDTD", h.VerDTD)
	w.elem("VerProto", h.VerProto)
	w.elem("SessionID", h.SessionID)
	w.elem("MsgID", h.MsgID)
	w.raw("<Target>")
	w.elem("LocURI", h.Target)
	w.raw("</Target><Source>")
	w.elem("LocURI", h.Source)
	w.raw("</Source>")
	if h.RespURI != "" {
		w.elem("RespURI", h.RespURI)
	}
	if c := h.Cred; c != nil {
		w.raw("<Cred>")
		w.meta(&Meta{Type: c.Type, Format: c.Format})
		w.elem("Data", c.Data)
		w.raw("</Cred>")
	}
	if h.Meta != nil {
		w.meta(h.Meta)
	}
}

// meta writes a Meta with the metinf namespace on each of its children.
func (w *writer) meta(m *Meta) {
	fields := [...]struct{ name, value string }{
		{"Format", m.Format}, {"Type", m.Type}, {"Size", m.Size},
		{"NextNonce", m.NextNonce}, {"MaxMsgSize", m.MaxMsgSize}, {"MaxObjSize", m.MaxObjSize},
	}
	empty := true
	for _, f := range fields {
		if f.value != "" {
			empty = false
		}
	}
	if empty {
		w.raw("<Meta/>")
		return
	}
	w.raw("<Meta>")
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		w.b = append(w.b, '<')
		w.b = append(w.b, f.name...)
		w.b = append(w.b, ` xmlns="`+NSMetInf+`">`...)
		w.escape(f.value)
		w.close(f.name)
	}
	w.raw("</Meta>")
}

// command writes c with its children in the order of the SyncML 1.2 DTD,
// e.g. Status: CmdID, MsgRef, CmdRef, Cmd, TargetRef*, SourceRef*, Chal?,
// Data, Item*; Results: CmdID, MsgRef?, CmdRef, Meta?, TargetRef?,
// SourceRef?, Item+.
func (w *writer) command(c *Command) {
	// The name as read (etree split a leading ':' off and wrote "<>" for a
	// command read from "<:>", which nothing could read back).
	name := c.Name
	w.open(name)
	w.elem("CmdID", c.CmdID)
	if c.NoResp {
		w.raw("<NoResp/>")
	}
	if c.MsgRef != "" {
		w.elem("MsgRef", c.MsgRef)
	}
	if c.CmdRef != "" {
		w.elem("CmdRef", c.CmdRef)
	}
	if c.Cmd != "" {
		w.elem("Cmd", c.Cmd)
	}
	if c.Name == CmdResults && c.Meta != nil {
		w.meta(c.Meta)
	}
	for _, r := range c.TargetRef {
		w.elem("TargetRef", r)
	}
	for _, r := range c.SourceRef {
		w.elem("SourceRef", r)
	}
	if c.Chal != nil {
		w.raw("<Chal>")
		w.meta(c.Chal)
		w.raw("</Chal>")
	}
	if c.Name != CmdResults && c.Meta != nil {
		w.meta(c.Meta)
	}
	if c.Data != "" || c.Name == CmdStatus {
		w.elem("Data", c.Data)
	}
	if c.Correlator != "" {
		w.elem("Correlator", c.Correlator)
	}
	for _, it := range c.Items {
		w.item(it)
	}
	for _, cc := range c.Children {
		w.command(cc)
	}
	w.close(name)
}

func (w *writer) item(it *Item) {
	hasData := it.HasData || it.Data != ""
	if it.Target == "" && it.Source == "" && it.Meta == nil && !hasData && !it.MoreData {
		w.raw("<Item/>")
		return
	}
	w.raw("<Item>")
	if it.Target != "" {
		w.raw("<Target>")
		w.elem("LocURI", it.Target)
		w.raw("</Target>")
	}
	if it.Source != "" {
		w.raw("<Source>")
		w.elem("LocURI", it.Source)
		w.raw("</Source>")
	}
	if it.Meta != nil {
		w.meta(it.Meta)
	}
	if hasData {
		if it.DataXML {
			w.xmlData(it.Data)
		} else {
			w.elem("Data", it.Data)
		}
	}
	if it.MoreData {
		w.raw("<MoreData/>")
	}
	w.raw("</Item>")
}

// xmlData writes an XML fragment as Data, re-serialized by etree (so that
// only well-formed XML goes out; text when it is not XML). Only Results
// carry it, never a poll.
func (w *writer) xmlData(data string) {
	d := etree.NewElement("Data")
	frag := etree.NewDocument()
	if err := frag.ReadFromString("<x>" + data + "</x>"); err == nil {
		for _, c := range frag.Root().ChildElements() {
			d.AddChild(c.Copy())
		}
	} else {
		d.SetText(data)
	}
	var buf bytes.Buffer
	d.WriteTo(&buf, &etree.WriteSettings{})
	w.b = append(w.b, buf.Bytes()...)
}

// escape writes text as etree's default escaping does: &, <, >, ' and "
// as references, characters XML forbids and invalid UTF-8 as U+FFFD.
func (w *writer) escape(s string) {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		width := 1
		if c < utf8.RuneSelf {
			switch c {
			case '&':
				esc = "&amp;"
			case '<':
				esc = "&lt;"
			case '>':
				esc = "&gt;"
			case '\'':
				esc = "&apos;"
			case '"':
				esc = "&quot;"
			case '\t', '\n', '\r':
			default:
				if c < 0x20 {
					esc = "\uFFFD"
				}
			}
		} else {
			var r rune
			r, width = utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && width == 1 || !charInRange(r) {
				esc = "\uFFFD"
			}
		}
		i += width
		if esc == "" {
			continue
		}
		w.b = append(w.b, s[last:i-width]...)
		w.b = append(w.b, esc...)
		last = i
	}
	w.b = append(w.b, s[last:]...)
}

func charInRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
