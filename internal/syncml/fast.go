package syncml

import (
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/xmltree"
)

// parseFast reads the messages devices actually send (plain XML, text
// data) into a flat node table built by xmltree.Scan, a few allocations
// per command instead of several per XML token with etree. It applies
// parseTree's rules to the same tree, so it returns what parseTree would;
// for anything else (a document outside Scan's subset, XML in an item's
// Data, any error) ok is false and Parse uses parseTree, which also words
// the errors. FuzzParseFast holds the two to the same answers.
func parseFast(data []byte) (m *Message, ok bool) {
	if len(data) == 0 {
		return nil, false
	}
	t := fastTree{s: string(data)}
	if !t.build() {
		return nil, false
	}
	root := int32(0)
	r := &t.n[root]
	if r.tag != "SyncML" || r.xmlnsCount > 1 || !strings.EqualFold(r.xmlns, NS) {
		return nil, false
	}
	hdr := t.child(root, "SyncHdr")
	body := t.child(root, "SyncBody")
	if hdr < 0 || body < 0 {
		return nil, false
	}
	m = &Message{Header: t.header(hdr)}
	count := 0
	for e := t.n[body].first; e >= 0; e = t.n[e].next {
		if t.n[e].tag == "Final" {
			m.Final = true
			continue
		}
		c, ok := t.command(e, &count)
		if !ok {
			return nil, false
		}
		m.Commands = append(m.Commands, c)
	}
	return m, true
}

// fastTree is a document as a table of elements; strings are slices of s.
type fastTree struct {
	s string
	n []fastNode
}

type fastNode struct {
	tag string
	// text is the element's character data before its first child
	// element, as written (etree's Text, references undecoded).
	text              string
	first, last, next int32
	// xmlns is the default namespace declared on the element.
	xmlns      string
	xmlnsCount int8
}

// build fills the table from Scan's events; false when Scan gives up or
// elements nest deeper than MaxDepth below the root.
func (t *fastTree) build() bool {
	t.n = make([]fastNode, 0, strings.Count(t.s, "<")/2+4)
	var stack [MaxDepth + 2]int32
	depth := 0
	return xmltree.Scan(t.s, func(ev xmltree.Event, name, value string) bool {
		switch ev {
		case xmltree.StartEvent:
			if depth > MaxDepth {
				return false
			}
			id := int32(len(t.n))
			t.n = append(t.n, fastNode{tag: name, first: -1, last: -1, next: -1})
			if depth > 0 {
				p := &t.n[stack[depth-1]]
				if p.last >= 0 {
					t.n[p.last].next = id
				} else {
					p.first = id
				}
				p.last = id
			}
			stack[depth] = id
			depth++
		case xmltree.AttrEvent:
			if name == "xmlns" {
				e := &t.n[stack[depth-1]]
				e.xmlns = value
				e.xmlnsCount++
			}
		case xmltree.EndEvent:
			depth--
		case xmltree.TextEvent:
			if depth > 0 {
				if e := &t.n[stack[depth-1]]; e.first < 0 {
					e.text = value
				}
			}
		}
		return true
	})
}

// child is the first child element named local, -1 when none (or e < 0).
func (t *fastTree) child(e int32, local string) int32 {
	if e < 0 {
		return -1
	}
	for c := t.n[e].first; c >= 0; c = t.n[c].next {
		if t.n[c].tag == local {
			return c
		}
	}
	return -1
}

// text is xmltree.Text: the trimmed character data, "" for none.
func (t *fastTree) text(e int32) string {
	if e < 0 {
		return ""
	}
	return strings.TrimSpace(xmltree.Unescape(t.n[e].text))
}

func (t *fastTree) header(e int32) Header {
	h := Header{
		VerDTD:    t.text(t.child(e, "VerDTD")),
		VerProto:  t.text(t.child(e, "VerProto")),
		SessionID: t.text(t.child(e, "SessionID")),
		MsgID:     t.text(t.child(e, "MsgID")),
		Target:    t.text(t.child(t.child(e, "Target"), "LocURI")),
		Source:    t.text(t.child(t.child(e, "Source"), "LocURI")),
		RespURI:   t.text(t.child(e, "RespURI")),
		Meta:      t.meta(t.child(e, "Meta")),
	}
	if c := t.child(e, "Cred"); c >= 0 {
		m := t.meta(t.child(c, "Meta"))
		h.Cred = &Cred{Data: t.text(t.child(c, "Data"))}
		if m != nil {
			h.Cred.Type, h.Cred.Format = m.Type, m.Format
		}
	}
	return h
}

func (t *fastTree) meta(e int32) *Meta {
	if e < 0 {
		return nil
	}
	return &Meta{
		Type:       t.text(t.child(e, "Type")),
		Format:     t.text(t.child(e, "Format")),
		NextNonce:  t.text(t.child(e, "NextNonce")),
		Size:       t.text(t.child(e, "Size")),
		MaxMsgSize: t.text(t.child(e, "MaxMsgSize")),
		MaxObjSize: t.text(t.child(e, "MaxObjSize")),
	}
}

func (t *fastTree) command(e int32, count *int) (*Command, bool) {
	*count++
	if *count > MaxCommands {
		return nil, false
	}
	c := &Command{
		Name:       t.n[e].tag,
		CmdID:      t.text(t.child(e, "CmdID")),
		MsgRef:     t.text(t.child(e, "MsgRef")),
		CmdRef:     t.text(t.child(e, "CmdRef")),
		Cmd:        t.text(t.child(e, "Cmd")),
		Data:       t.text(t.child(e, "Data")),
		Meta:       t.meta(t.child(e, "Meta")),
		Correlator: t.text(t.child(e, "Correlator")),
		NoResp:     t.child(e, "NoResp") >= 0,
	}
	if ch := t.child(e, "Chal"); ch >= 0 {
		c.Chal = t.meta(t.child(ch, "Meta"))
		if c.Chal == nil {
			c.Chal = &Meta{}
		}
	}
	for k := t.n[e].first; k >= 0; k = t.n[k].next {
		switch t.n[k].tag {
		case "TargetRef":
			c.TargetRef = append(c.TargetRef, t.text(k))
		case "SourceRef":
			c.SourceRef = append(c.SourceRef, t.text(k))
		case "Item":
			it, ok := t.item(k)
			if !ok {
				return nil, false
			}
			c.Items = append(c.Items, it)
		}
	}
	if c.IsContainer() {
		for k := t.n[e].first; k >= 0; k = t.n[k].next {
			if commandFields[t.n[k].tag] {
				continue
			}
			cc, ok := t.command(k, count)
			if !ok {
				return nil, false
			}
			c.Children = append(c.Children, cc)
		}
	}
	return c, true
}

// item reads an Item; ok is false for XML data, which parseTree keeps as
// etree writes it.
func (t *fastTree) item(e int32) (*Item, bool) {
	it := &Item{
		Target:   t.text(t.child(t.child(e, "Target"), "LocURI")),
		Source:   t.text(t.child(t.child(e, "Source"), "LocURI")),
		Meta:     t.meta(t.child(e, "Meta")),
		MoreData: t.child(e, "MoreData") >= 0,
	}
	if d := t.child(e, "Data"); d >= 0 {
		if t.n[d].first >= 0 {
			return nil, false
		}
		it.HasData = true
		it.Data = xmltree.Unescape(t.n[d].text)
	}
	return it, true
}
