package syncml

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// FuzzParse feeds Parse the SyncML messages real devices sent (both
// sessions of device A, device B's unenrollment), a server message written
// by Marshal, and mutations of them. Whatever the input: no panic, exactly
// one of message and error, every error an ErrMalformed, no more than
// MaxCommands commands. A parsed message marshals to a message that parses,
// and from there the round trip is stable: parsing what Marshal wrote gives
// back the same message, and marshaling that gives the same bytes.
func FuzzParse(f *testing.F) {
	capture.Seed(f, "a-syncml-*.xml", "b-syncml-*.xml")
	f.Add(Marshal(&Message{
		Header: Header{VerDTD: VerDTD, VerProto: VerProto, SessionID: "1", MsgID: "1",
			Target: "1E08C6E95D8BB843B1278FF45BC60CC6", Source: "https://x/ManagementServer/MDM.svc",
			Cred: &Cred{Type: AuthMD5, Format: FormatB64, Data: "abc=="}},
		Commands: []*Command{
			{Name: CmdStatus, CmdID: "1", MsgRef: "1", CmdRef: "0", Cmd: CmdSyncHdr, Data: "401",
				Chal: &Meta{Type: AuthMD5, Format: FormatB64, NextNonce: "bm9uY2U="}},
			{Name: CmdAtomic, CmdID: "2", Children: []*Command{
				{Name: CmdReplace, CmdID: "3", Items: []*Item{{Target: "./Device/A", Meta: &Meta{Format: "int"}, Data: "1", HasData: true}}},
			}},
			{Name: CmdResults, CmdID: "4", MsgRef: "2", CmdRef: "5", Items: []*Item{{Source: "./X", Data: "<a><b>1</b></a>", DataXML: true, HasData: true}}},
		},
		Final: true,
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > capture.MaxFuzzInput {
			t.Skip()
		}
		m, err := Parse(data)
		// The fast path reads what the etree reading reads, or leaves it.
		tm, terr := parseTree(data)
		if (err == nil) != (terr == nil) || (err != nil && err.Error() != terr.Error()) || !reflect.DeepEqual(m, tm) {
			t.Fatalf("Parse and parseTree differ:\n%#v %v\n%#v %v", m, err, tm, terr)
		}
		if err != nil {
			if m != nil {
				t.Fatalf("both a message and an error: %v", err)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if m == nil {
			t.Fatal("no message and no error")
		}
		if n := countCommands(m.Commands); n > MaxCommands {
			t.Fatalf("%d commands accepted", n)
		}
		if fieldAsCommand(m.Commands) {
			t.Fatal("a container's field element was read as a nested command")
		}
		out := Marshal(m)
		if ref := marshalTree(m); !bytes.Equal(out, ref) && !leadingColon(m.Commands) {
			t.Fatalf("Marshal and the etree writer differ:\n%s\n%s", out, ref)
		}
		for _, c := range m.Commands {
			if Size(c) != sizeTree(c) && !leadingColon([]*Command{c}) {
				t.Fatalf("Size %d, etree size %d", Size(c), sizeTree(c))
			}
		}
		m2, err := Parse(out)
		if err != nil {
			t.Fatalf("Marshal wrote a message Parse refuses: %v\n%s", err, out)
		}
		out2 := Marshal(m2)
		m3, err := Parse(out2)
		if err != nil {
			t.Fatalf("second round trip refused: %v\n%s", err, out2)
		}
		if !reflect.DeepEqual(m2, m3) {
			t.Errorf("round trip is not stable:\n%s\n%s", out, out2)
		}
		if out3 := Marshal(m3); !bytes.Equal(out2, out3) {
			t.Errorf("Marshal is not stable:\n%s\n%s", out2, out3)
		}
	})
}

// FuzzParseHeader feeds ParseHeader, which reads the SyncHdr of a message
// that may be broken after it, the real messages and mutations of them. A
// header it reads is the header Parse reads of the same message when the
// whole message parses.
func FuzzParseHeader(f *testing.F) {
	capture.Seed(f, "a-syncml-*.xml", "b-syncml-*.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > capture.MaxFuzzInput {
			t.Skip()
		}
		h, ok := ParseHeader(data)
		if !ok {
			if !reflect.DeepEqual(h, Header{}) {
				t.Fatalf("header %+v returned with ok false", h)
			}
			return
		}
		if m, err := Parse(data); err == nil && !reflect.DeepEqual(m.Header, h) {
			t.Errorf("ParseHeader read %+v, Parse %+v", h, m.Header)
		}
	})
}

// fieldAsCommand reports whether a container holds a nested command named
// like a field of a command (Item, Data, TargetRef...).
func fieldAsCommand(cs []*Command) bool {
	for _, c := range cs {
		for _, cc := range c.Children {
			switch cc.Name {
			case "Item", "Data", "TargetRef", "SourceRef", "MsgRef", "CmdRef", "Cmd", "Chal", "Correlator":
				return true
			}
		}
		if fieldAsCommand(c.Children) {
			return true
		}
	}
	return false
}

func countCommands(cs []*Command) int {
	n := len(cs)
	for _, c := range cs {
		n += countCommands(c.Children)
	}
	return n
}

// leadingColon reports a command named ":..." (read from "<:>"), which the
// etree writer wrote as an unreadable "<>" and Marshal writes as read.
func leadingColon(cs []*Command) bool {
	for _, c := range cs {
		if strings.HasPrefix(c.Name, ":") || leadingColon(c.Children) {
			return true
		}
	}
	return false
}
