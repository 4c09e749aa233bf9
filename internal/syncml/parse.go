package syncml

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/xmltree"
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
	if m, ok := parseFast(bytes.TrimSpace(data)); ok {
		return m, nil
	}
	return parseTree(data)
}

// parseTree is Parse over an etree document: the reference reading, used
// for whatever parseFast leaves to it (every error included).
func parseTree(data []byte) (*Message, error) {
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
	if xmltree.TooDeep(root, MaxDepth) {
		return nil, fmt.Errorf("%w: elements nested deeper than %d", ErrMalformed, MaxDepth)
	}
	hdr := xmltree.Child(root, "SyncHdr")
	if hdr == nil {
		return nil, fmt.Errorf("%w: no SyncHdr", ErrMalformed)
	}
	body := xmltree.Child(root, "SyncBody")
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
		VerDTD:    xmltree.Text(xmltree.Child(e, "VerDTD")),
		VerProto:  xmltree.Text(xmltree.Child(e, "VerProto")),
		SessionID: xmltree.Text(xmltree.Child(e, "SessionID")),
		MsgID:     xmltree.Text(xmltree.Child(e, "MsgID")),
		Target:    xmltree.Text(xmltree.Child(xmltree.Child(e, "Target"), "LocURI")),
		Source:    xmltree.Text(xmltree.Child(xmltree.Child(e, "Source"), "LocURI")),
		RespURI:   xmltree.Text(xmltree.Child(e, "RespURI")),
		Meta:      parseMeta(xmltree.Child(e, "Meta")),
	}
	if c := xmltree.Child(e, "Cred"); c != nil {
		m := parseMeta(xmltree.Child(c, "Meta"))
		h.Cred = &Cred{Data: xmltree.Text(xmltree.Child(c, "Data"))}
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
		Type:       xmltree.Text(xmltree.Child(e, "Type")),
		Format:     xmltree.Text(xmltree.Child(e, "Format")),
		NextNonce:  xmltree.Text(xmltree.Child(e, "NextNonce")),
		Size:       xmltree.Text(xmltree.Child(e, "Size")),
		MaxMsgSize: xmltree.Text(xmltree.Child(e, "MaxMsgSize")),
		MaxObjSize: xmltree.Text(xmltree.Child(e, "MaxObjSize")),
	}
}

// commandFields are the elements of a command that are not commands: a
// container's other children are its commands.
var commandFields = map[string]bool{
	"CmdID": true, "Meta": true, "NoResp": true, "Item": true, "Data": true,
	"MsgRef": true, "CmdRef": true, "Cmd": true, "Chal": true, "Correlator": true,
	"TargetRef": true, "SourceRef": true,
}

func parseCommand(e *etree.Element, count *int) (*Command, error) {
	*count++
	if *count > MaxCommands {
		return nil, fmt.Errorf("%w: more than %d commands", ErrMalformed, MaxCommands)
	}
	c := &Command{
		Name:       e.Tag,
		CmdID:      xmltree.Text(xmltree.Child(e, "CmdID")),
		MsgRef:     xmltree.Text(xmltree.Child(e, "MsgRef")),
		CmdRef:     xmltree.Text(xmltree.Child(e, "CmdRef")),
		Cmd:        xmltree.Text(xmltree.Child(e, "Cmd")),
		Data:       xmltree.Text(xmltree.Child(e, "Data")),
		Meta:       parseMeta(xmltree.Child(e, "Meta")),
		Correlator: xmltree.Text(xmltree.Child(e, "Correlator")),
		NoResp:     xmltree.Child(e, "NoResp") != nil,
	}
	if ch := xmltree.Child(e, "Chal"); ch != nil {
		c.Chal = parseMeta(xmltree.Child(ch, "Meta"))
		if c.Chal == nil {
			c.Chal = &Meta{}
		}
	}
	for _, r := range xmltree.Children(e, "TargetRef") {
		c.TargetRef = append(c.TargetRef, xmltree.Text(r))
	}
	for _, r := range xmltree.Children(e, "SourceRef") {
		c.SourceRef = append(c.SourceRef, xmltree.Text(r))
	}
	for _, ie := range xmltree.Children(e, "Item") {
		c.Items = append(c.Items, parseItem(ie))
	}
	if c.IsContainer() {
		for _, ce := range e.ChildElements() {
			if commandFields[ce.Tag] {
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
		Target:   xmltree.Text(xmltree.Child(xmltree.Child(e, "Target"), "LocURI")),
		Source:   xmltree.Text(xmltree.Child(xmltree.Child(e, "Source"), "LocURI")),
		Meta:     parseMeta(xmltree.Child(e, "Meta")),
		MoreData: xmltree.Child(e, "MoreData") != nil,
	}
	if d := xmltree.Child(e, "Data"); d != nil {
		it.HasData = true
		if len(d.ChildElements()) > 0 {
			// XML data (e.g. Results of a node list): keep it verbatim.
			it.Data, it.DataXML = xmltree.InnerXML(d), true
		} else {
			it.Data = d.Text()
		}
	}
	return it
}
