package syncml

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// Bounds on what Parse accepts from a device.
const (
	MaxDepth    = 32
	MaxCommands = 10000
)

// ErrMalformed wraps parse errors that leave no message to answer.
var ErrMalformed = errors.New("malformed SyncML message")

// Parse reads a SyncML message. Element names are matched by local name; the
// root's namespace must be SYNCML:SYNCML1.2 (compared without case, as the
// DTD name is case-insensitive).
func Parse(data []byte) (*Message, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(bytes.TrimSpace(data)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "SyncML" {
		return nil, fmt.Errorf("%w: root element is not SyncML", ErrMalformed)
	}
	if ns := root.NamespaceURI(); !strings.EqualFold(ns, NS) {
		return nil, fmt.Errorf("%w: namespace %q, want %q", ErrMalformed, ns, NS)
	}
	if tooDeep(root, 0) {
		return nil, fmt.Errorf("%w: elements nested deeper than %d", ErrMalformed, MaxDepth)
	}
	hdr := child(root, "SyncHdr")
	if hdr == nil {
		return nil, fmt.Errorf("%w: no SyncHdr", ErrMalformed)
	}
	body := child(root, "SyncBody")
	if body == nil {
		return nil, fmt.Errorf("%w: no SyncBody", ErrMalformed)
	}
	m := &Message{Header: parseHeader(hdr)}
	count := 0
	for _, e := range body.ChildElements() {
		if e.Tag == "Final" {
			m.Final = true
			continue
		}
		c, err := parseCommand(e, &count)
		if err != nil {
			return nil, err
		}
		m.Commands = append(m.Commands, c)
	}
	return m, nil
}

func parseHeader(e *etree.Element) Header {
	h := Header{
		VerDTD:    text(child(e, "VerDTD")),
		VerProto:  text(child(e, "VerProto")),
		SessionID: text(child(e, "SessionID")),
		MsgID:     text(child(e, "MsgID")),
		Target:    text(child(child(e, "Target"), "LocURI")),
		Source:    text(child(child(e, "Source"), "LocURI")),
		Meta:      parseMeta(child(e, "Meta")),
	}
	if c := child(e, "Cred"); c != nil {
		m := parseMeta(child(c, "Meta"))
		h.Cred = &Cred{Data: text(child(c, "Data"))}
		if m != nil {
			h.Cred.Type, h.Cred.Format = m.Type, m.Format
		}
	}
	return h
}

func parseMeta(e *etree.Element) *Meta {
	if e == nil {
		return nil
	}
	return &Meta{
		Type:       text(child(e, "Type")),
		Format:     text(child(e, "Format")),
		NextNonce:  text(child(e, "NextNonce")),
		Size:       text(child(e, "Size")),
		MaxMsgSize: text(child(e, "MaxMsgSize")),
		MaxObjSize: text(child(e, "MaxObjSize")),
	}
}

func parseCommand(e *etree.Element, count *int) (*Command, error) {
	*count++
	if *count > MaxCommands {
		return nil, fmt.Errorf("%w: more than %d commands", ErrMalformed, MaxCommands)
	}
	c := &Command{
		Name:       e.Tag,
		CmdID:      text(child(e, "CmdID")),
		MsgRef:     text(child(e, "MsgRef")),
		CmdRef:     text(child(e, "CmdRef")),
		Cmd:        text(child(e, "Cmd")),
		Data:       text(child(e, "Data")),
		Meta:       parseMeta(child(e, "Meta")),
		Correlator: text(child(e, "Correlator")),
		NoResp:     child(e, "NoResp") != nil,
	}
	if ch := child(e, "Chal"); ch != nil {
		c.Chal = parseMeta(child(ch, "Meta"))
		if c.Chal == nil {
			c.Chal = &Meta{}
		}
	}
	for _, r := range children(e, "TargetRef") {
		c.TargetRef = append(c.TargetRef, text(r))
	}
	for _, r := range children(e, "SourceRef") {
		c.SourceRef = append(c.SourceRef, text(r))
	}
	for _, ie := range children(e, "Item") {
		c.Items = append(c.Items, parseItem(ie))
	}
	if c.IsContainer() {
		for _, ce := range e.ChildElements() {
			switch ce.Tag {
			case "CmdID", "Meta", "NoResp":
				continue
			}
			cc, err := parseCommand(ce, count)
			if err != nil {
				return nil, err
			}
			c.Children = append(c.Children, cc)
		}
	}
	return c, nil
}

func parseItem(e *etree.Element) *Item {
	it := &Item{
		Target:   text(child(child(e, "Target"), "LocURI")),
		Source:   text(child(child(e, "Source"), "LocURI")),
		Meta:     parseMeta(child(e, "Meta")),
		MoreData: child(e, "MoreData") != nil,
	}
	if d := child(e, "Data"); d != nil {
		it.HasData = true
		if len(d.ChildElements()) > 0 {
			// XML data (e.g. Results of a node list): keep it verbatim.
			inner := etree.NewDocument()
			for _, tok := range d.Child {
				switch t := tok.(type) {
				case *etree.Element:
					inner.AddChild(t.Copy())
				case *etree.CharData:
					inner.CreateText(t.Data)
				}
			}
			b, _ := inner.WriteToString()
			it.Data, it.DataXML = b, true
		} else {
			it.Data = d.Text()
		}
	}
	return it
}

func child(e *etree.Element, local string) *etree.Element {
	if e == nil {
		return nil
	}
	for _, c := range e.ChildElements() {
		if c.Tag == local {
			return c
		}
	}
	return nil
}

func children(e *etree.Element, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range e.ChildElements() {
		if c.Tag == local {
			out = append(out, c)
		}
	}
	return out
}

func text(e *etree.Element) string {
	if e == nil {
		return ""
	}
	return strings.TrimSpace(e.Text())
}

func tooDeep(e *etree.Element, d int) bool {
	if d > MaxDepth {
		return true
	}
	for _, c := range e.ChildElements() {
		if tooDeep(c, d+1) {
			return true
		}
	}
	return false
}
