package syncml

// The etree writer Marshal replaced, kept as the reference its output is
// compared with (TestMarshalMatchesTree, FuzzParse).

import (
	"github.com/beevik/etree"
)

// Marshal writes a message with the SyncML namespace on the root and the
// metinf namespace on every Meta child, as Windows expects.
func marshalTree(m *Message) []byte {
	doc := etree.NewDocument()
	root := doc.CreateElement("SyncML")
	root.CreateAttr("xmlns", NS)
	writeHeaderTree(root.CreateElement("SyncHdr"), &m.Header)
	body := root.CreateElement("SyncBody")
	for _, c := range m.Commands {
		writeCommandTree(body, c)
	}
	if m.Final {
		body.CreateElement("Final")
	}
	b, err := doc.WriteToBytes()
	if err != nil {
		panic(err) // writing an in-memory tree cannot fail
	}
	return b
}

func writeHeaderTree(e *etree.Element, h *Header) {
	e.CreateElement("VerDTD").SetText(h.VerDTD)
	e.CreateElement("VerProto").SetText(h.VerProto)
	e.CreateElement("SessionID").SetText(h.SessionID)
	e.CreateElement("MsgID").SetText(h.MsgID)
	e.CreateElement("Target").CreateElement("LocURI").SetText(h.Target)
	e.CreateElement("Source").CreateElement("LocURI").SetText(h.Source)
	if h.RespURI != "" {
		e.CreateElement("RespURI").SetText(h.RespURI)
	}
	if c := h.Cred; c != nil {
		ce := e.CreateElement("Cred")
		writeMetaTree(ce, &Meta{Type: c.Type, Format: c.Format})
		ce.CreateElement("Data").SetText(c.Data)
	}
	if h.Meta != nil {
		writeMetaTree(e, h.Meta)
	}
}

func writeMetaTree(parent *etree.Element, m *Meta) {
	me := parent.CreateElement("Meta")
	for _, f := range []struct{ name, value string }{
		{"Format", m.Format}, {"Type", m.Type}, {"Size", m.Size},
		{"NextNonce", m.NextNonce}, {"MaxMsgSize", m.MaxMsgSize}, {"MaxObjSize", m.MaxObjSize},
	} {
		if f.value == "" {
			continue
		}
		x := me.CreateElement(f.name)
		x.CreateAttr("xmlns", NSMetInf)
		x.SetText(f.value)
	}
}

// WriteCommand appends c to parent with its children in the order of the
// SyncML 1.2 DTD, e.g. Status: CmdID, MsgRef, CmdRef, Cmd, TargetRef*,
// SourceRef*, Chal?, Data, Item*; Results: CmdID, MsgRef?, CmdRef, Meta?,
// TargetRef?, SourceRef?, Item+.
func writeCommandTree(parent *etree.Element, c *Command) {
	e := parent.CreateElement(c.Name)
	e.CreateElement("CmdID").SetText(c.CmdID)
	if c.NoResp {
		e.CreateElement("NoResp")
	}
	if c.MsgRef != "" {
		e.CreateElement("MsgRef").SetText(c.MsgRef)
	}
	if c.CmdRef != "" {
		e.CreateElement("CmdRef").SetText(c.CmdRef)
	}
	if c.Cmd != "" {
		e.CreateElement("Cmd").SetText(c.Cmd)
	}
	if c.Name == CmdResults && c.Meta != nil {
		writeMetaTree(e, c.Meta)
	}
	for _, r := range c.TargetRef {
		e.CreateElement("TargetRef").SetText(r)
	}
	for _, r := range c.SourceRef {
		e.CreateElement("SourceRef").SetText(r)
	}
	if c.Chal != nil {
		writeMetaTree(e.CreateElement("Chal"), c.Chal)
	}
	if c.Name != CmdResults && c.Meta != nil {
		writeMetaTree(e, c.Meta)
	}
	if c.Data != "" || c.Name == CmdStatus {
		e.CreateElement("Data").SetText(c.Data)
	}
	if c.Correlator != "" {
		e.CreateElement("Correlator").SetText(c.Correlator)
	}
	for _, it := range c.Items {
		writeItemTree(e, it)
	}
	for _, cc := range c.Children {
		writeCommandTree(e, cc)
	}
}

func writeItemTree(parent *etree.Element, it *Item) {
	e := parent.CreateElement("Item")
	if it.Target != "" {
		e.CreateElement("Target").CreateElement("LocURI").SetText(it.Target)
	}
	if it.Source != "" {
		e.CreateElement("Source").CreateElement("LocURI").SetText(it.Source)
	}
	if it.Meta != nil {
		writeMetaTree(e, it.Meta)
	}
	if it.HasData || it.Data != "" {
		d := e.CreateElement("Data")
		if it.DataXML {
			frag := etree.NewDocument()
			if err := frag.ReadFromString("<x>" + it.Data + "</x>"); err == nil {
				for _, c := range frag.Root().ChildElements() {
					d.AddChild(c.Copy())
				}
			} else {
				d.SetText(it.Data)
			}
		} else {
			d.SetText(it.Data)
		}
	}
	if it.MoreData {
		e.CreateElement("MoreData")
	}
}

// Size is the marshaled size of one command, used to fill a message up to
// the device's MaxMsgSize.
func sizeTree(c *Command) int {
	doc := etree.NewDocument()
	writeCommandTree(&doc.Element, c)
	b, _ := doc.WriteToBytes()
	return len(b)
}
