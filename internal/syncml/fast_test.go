package syncml

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// TestParseFastReadsDevices checks that what real devices sent takes the
// fast path, and that it reads what the etree reading reads.
func TestParseFastReadsDevices(t *testing.T) {
	for _, name := range []string{"a-syncml-session1-msg1.xml", "a-syncml-session1-msg2.xml", "b-syncml-session2-unenroll.xml"} {
		data := capture.Read(t, name)
		m, ok := parseFast(bytes.TrimSpace(data))
		if !ok {
			t.Fatalf("%s: not read by the fast path", name)
		}
		ref, err := parseTree(data)
		if err != nil || !reflect.DeepEqual(m, ref) {
			t.Fatalf("%s: fast %#v, etree %#v (%v)", name, m, ref, err)
		}
	}
}

// TestParseFastLeavesTheRest checks that documents outside the fast
// path's subset go to the etree reading, with its answer.
func TestParseFastLeavesTheRest(t *testing.T) {
	hdr := `<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>s</LocURI></Target><Source><LocURI>d</LocURI></Source></SyncHdr>`
	wrap := func(body string) string {
		return `<SyncML xmlns="SYNCML:SYNCML1.2">` + hdr + `<SyncBody>` + body + `<Final/></SyncBody></SyncML>`
	}
	cases := map[string]struct {
		doc  string
		fast bool
	}{
		"plain":             {wrap(`<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>`), true},
		"declaration":       {`<?xml version="1.0" encoding="utf-8"?>` + wrap(``), true},
		"references":        {wrap(`<Results><CmdID>1</CmdID><Item><Data>a&lt;b&amp;&#233;&#x41;</Data></Item></Results>`), true},
		"comment":           {wrap(`<!-- x --><Alert><CmdID>1</CmdID></Alert>`), false},
		"cdata":             {wrap(`<Results><CmdID>1</CmdID><Item><Data><![CDATA[<a>]]></Data></Item></Results>`), false},
		"xml data":          {wrap(`<Results><CmdID>1</CmdID><Item><Data><a>1</a></Data></Item></Results>`), false},
		"prefix":            {`<s:SyncML xmlns:s="SYNCML:SYNCML1.2">` + hdr + `<SyncBody/></s:SyncML>`, false},
		"carriage return":   {wrap("<Alert>\r\n<CmdID>1</CmdID></Alert>"), false},
		"unknown entity":    {wrap(`<Alert><CmdID>&nbsp;</CmdID></Alert>`), false},
		"latin1":            {`<?xml version="1.0" encoding="ISO-8859-1"?>` + wrap(``), false},
		"wrong namespace":   {`<SyncML xmlns="x">` + hdr + `<SyncBody/></SyncML>`, false},
		"mismatched":        {wrap(`<Alert><CmdID>1</Cmd></Alert>`), false},
		"too deep":          {wrap(strings.Repeat("<Atomic>", 40) + strings.Repeat("</Atomic>", 40)), false},
		"doctype":           {`<!DOCTYPE SyncML>` + wrap(``), false},
		"two roots":         {wrap(``) + `<x/>`, false},
		"attribute entity":  {`<SyncML xmlns="SYNCML:SYNCML1.2&amp;">` + hdr + `<SyncBody/></SyncML>`, false},
		"invalid character": {wrap("<Alert><CmdID>\x01</CmdID></Alert>"), false},
	}
	for name, c := range cases {
		_, ok := parseFast(bytes.TrimSpace([]byte(c.doc)))
		if ok != c.fast {
			t.Errorf("%s: fast path %v, want %v", name, ok, c.fast)
		}
		m, err := Parse([]byte(c.doc))
		ref, rerr := parseTree([]byte(c.doc))
		if (err == nil) != (rerr == nil) || !reflect.DeepEqual(m, ref) {
			t.Errorf("%s: Parse %#v %v, etree %#v %v", name, m, err, ref, rerr)
		}
	}
}

// TestMarshalMatchesTree compares the direct writer with the etree
// writer it replaced, byte for byte.
func TestMarshalMatchesTree(t *testing.T) {
	msgs := []*Message{
		{Header: Header{VerDTD: VerDTD, VerProto: VerProto, SessionID: "1", MsgID: "1", Target: "d", Source: "https://x/?a=1&b='2'"}},
		{Header: Header{Cred: &Cred{}, Meta: &Meta{}}, Final: true},
		{Header: Header{VerDTD: VerDTD, RespURI: "https://x/?t=<>", Cred: &Cred{Type: AuthMD5, Format: FormatB64, Data: "abc=="},
			Meta: &Meta{MaxMsgSize: "1000", MaxObjSize: "2"}},
			Commands: []*Command{
				{Name: CmdStatus, CmdID: "1", MsgRef: "1", CmdRef: "0", Cmd: CmdSyncHdr, Chal: &Meta{Type: AuthMD5, NextNonce: "n"}},
				{Name: CmdResults, CmdID: "2", Meta: &Meta{Format: "chr"}, TargetRef: []string{"a", ""}, SourceRef: []string{"b"},
					Items: []*Item{{}, {Source: "./X", Data: "<a x='1'>é</a><b/>", DataXML: true}, {Source: "./Y", Data: "not <xml", DataXML: true}}},
				{Name: CmdAtomic, CmdID: "3", NoResp: true, Correlator: "c", Children: []*Command{
					{Name: CmdReplace, CmdID: "4", Meta: &Meta{Type: "text/plain"}, Items: []*Item{
						{Target: "./A", Meta: &Meta{Size: "3"}, HasData: true},
						{Target: "./B", Data: "tab\tnl\ncr\r ctl\x01 bad\xff ok\uFFFD nonchar\uFFFE \"q\" &amp;", MoreData: true},
					}},
				}},
				{Name: CmdStatus, CmdID: "5", Data: ""},
			}, Final: true},
	}
	for _, name := range []string{"a-syncml-session1-msg1.xml", "a-syncml-session1-msg2.xml", "b-syncml-session2-unenroll.xml"} {
		m, err := Parse(capture.Read(t, name))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	for i, m := range msgs {
		if got, want := Marshal(m), marshalTree(m); !bytes.Equal(got, want) {
			t.Errorf("message %d:\n got %s\nwant %s", i, got, want)
		}
		for _, c := range m.Commands {
			if got, want := Size(c), sizeTree(c); got != want {
				t.Errorf("message %d: Size %d, want %d", i, got, want)
			}
		}
	}
}
