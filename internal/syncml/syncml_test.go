package syncml

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

func TestParseRealSession(t *testing.T) {
	m, err := Parse(capture.Read(t, "a-syncml-session1-msg1.xml"))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	if h.VerDTD != "1.2" || h.VerProto != "DM/1.2" || h.SessionID != "1" || h.MsgID != "1" ||
		h.Source != "1E08C6E95D8BB843B1278FF45BC60CC6" || h.Target != "https://mdmwindows.com/ManagementServer/MDM.svc" {
		t.Errorf("header %+v", h)
	}
	if !m.Final || len(m.Commands) != 3 {
		t.Fatalf("final %v, %d commands", m.Final, len(m.Commands))
	}
	alert := m.Commands[1]
	if alert.Name != CmdAlert || alert.CmdID != "3" || alert.Data != "1224" ||
		alert.Items[0].Meta.Type != "com.microsoft/MDM/LoginStatus" || alert.Items[0].Data != "user" {
		t.Errorf("alert %+v %+v", alert, alert.Items[0])
	}
	rep := m.Commands[2]
	if rep.Name != CmdReplace || len(rep.Items) != 5 || rep.Items[1].Source != "./DevInfo/Man" || rep.Items[1].Data != "VMware, Inc." {
		t.Errorf("replace %+v", rep)
	}

	m2, err := Parse(capture.Read(t, "a-syncml-session1-msg2.xml"))
	if err != nil {
		t.Fatal(err)
	}
	st := m2.Commands[1]
	if st.Name != CmdStatus || st.MsgRef != "1" || st.CmdRef != "5" || st.Cmd != CmdReplace || st.Data != "202" {
		t.Errorf("status %+v", st)
	}

	m3, err := Parse(capture.Read(t, "b-syncml-session2-unenroll.xml"))
	if err != nil {
		t.Fatal(err)
	}
	un := m3.Commands[2]
	if un.Data != AlertGeneric || un.Items[0].Meta.Type != "com.microsoft:mdm.unenrollment.userrequest" || un.Items[0].Meta.Format != "int" {
		t.Errorf("unenroll alert %+v", un.Items[0].Meta)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	m := &Message{
		Header: Header{VerDTD: VerDTD, VerProto: VerProto, SessionID: "1", MsgID: "1",
			Target: "DEV", Source: "https://x/ManagementServer/MDM.svc",
			Cred: &Cred{Type: AuthMD5, Format: FormatB64, Data: "abc=="}},
		Commands: []*Command{
			{Name: CmdStatus, CmdID: "1", MsgRef: "1", CmdRef: "0", Cmd: CmdSyncHdr, Data: "401",
				Chal: &Meta{Type: AuthMD5, Format: FormatB64, NextNonce: "bm9uY2U="}},
			{Name: CmdAtomic, CmdID: "2", Children: []*Command{
				{Name: CmdReplace, CmdID: "3", Items: []*Item{{Target: "./Device/A", Meta: &Meta{Format: "int"}, Data: "1 < 2 & 3", HasData: true}}},
			}},
			{Name: CmdResults, CmdID: "4", MsgRef: "2", CmdRef: "5", Items: []*Item{{Source: "./X", Data: "<a><b>1</b></a>", DataXML: true, HasData: true}}},
		},
		Final: true,
	}
	b := Marshal(m)
	for _, want := range []string{
		`<SyncML xmlns="SYNCML:SYNCML1.2">`,
		`<Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type>`,
		`<Chal><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type><NextNonce xmlns="syncml:metinf">bm9uY2U=</NextNonce></Meta></Chal><Data>401</Data>`,
		`<Data>1 &lt; 2 &amp; 3</Data>`,
		`<Data><a><b>1</b></a></Data>`,
		`<Final/>`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("marshaled message lacks %s\n%s", want, b)
		}
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Commands[1].Children[0].Items[0].Data != "1 < 2 & 3" || back.Header.Cred.Data != "abc==" ||
		back.Commands[0].Chal.NextNonce != "bm9uY2U=" || !back.Commands[2].Items[0].DataXML {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestParseRefuses(t *testing.T) {
	good := string(capture.Read(t, "a-syncml-session1-msg1.xml"))
	for name, in := range map[string]string{
		"not XML":         "nope",
		"wrong namespace": strings.Replace(good, "SYNCML:SYNCML1.2", "SYNCML:SYNCML1.1", 1),
		"no namespace":    strings.Replace(good, ` xmlns="SYNCML:SYNCML1.2"`, "", 1),
		"no SyncHdr":      strings.Replace(strings.Replace(good, "<SyncHdr>", "<Other>", 1), "</SyncHdr>", "</Other>", 1),
		"no SyncBody":     strings.Replace(strings.Replace(good, "<SyncBody>", "<Other>", 1), "</SyncBody>", "</Other>", 1),
		"too deep":        strings.Replace(good, "<Final/>", strings.Repeat("<Atomic>", 40)+strings.Repeat("</Atomic>", 40), 1),
	} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestItemMeta(t *testing.T) {
	c := &Command{Meta: &Meta{Format: "int", Type: "text/plain", Size: "10"}}
	it := &Item{Meta: &Meta{Format: "chr"}}
	if m := ItemMeta(c, it); m.Format != "chr" || m.Type != "text/plain" || m.Size != "10" {
		t.Errorf("item over command: %+v", m)
	}
	if m := ItemMeta(&Command{}, &Item{}); m != (Meta{}) {
		t.Errorf("no Meta: %+v", m)
	}
}
