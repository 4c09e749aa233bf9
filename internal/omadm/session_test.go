package omadm

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// TestCaptureSession1 replays device A's first session. Its second message
// acknowledges with 202 the server's Replace commands CmdID 5 and 6 of
// message 1: with two commands queued, this server sends exactly those.
func TestCaptureSession1(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	c1 := h.enqueue(deviceA, store.CommandSpec{Verb: "Replace", Items: []store.ItemSpec{{Target: "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera", Format: "int", Data: "0"}}})
	c2 := h.enqueue(deviceA, store.CommandSpec{Verb: "Replace", Items: []store.ItemSpec{{Target: "./Vendor/MSFT/DMClient/Provider/caddy-mdm/EntDMID", Data: deviceA}}})

	r, m := h.send(deviceA, capture.Read(t, "a-syncml-session1-msg1.xml"))
	// Header: echoes, Target = device, Source = server URL, MsgID = device MsgID.
	if m.Header.SessionID != "1" || m.Header.MsgID != "1" || m.Header.Target != deviceA || m.Header.Source != serverURL ||
		m.Header.VerDTD != "1.2" || m.Header.VerProto != "DM/1.2" {
		t.Errorf("reply header %+v", m.Header)
	}
	hs := headerStatus(t, m)
	if hs.CmdID != "1" || hs.MsgRef != "1" || hs.Data != "200" || r.Report.Auth != "certificate" {
		t.Errorf("SyncHdr status %+v (auth %q)", hs, r.Report.Auth)
	}
	// One status per device command, in order, with CmdRef and Cmd.
	want := []struct{ id, ref, cmd string }{{"2", "2", "Alert"}, {"3", "3", "Alert"}, {"4", "4", "Replace"}}
	for i, w := range want {
		st := m.Commands[1+i]
		if st.Name != "Status" || st.CmdID != w.id || st.CmdRef != w.ref || st.Cmd != w.cmd || st.MsgRef != "1" || st.Data != "200" {
			t.Errorf("status %d: %+v", i, st)
		}
	}
	sent := sentCommands(m)
	if len(sent) != 2 || sent[0].CmdID != "5" || sent[1].CmdID != "6" || sent[0].Name != "Replace" ||
		sent[0].Items[0].Target != "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera" || sent[0].Items[0].Meta.Format != "int" {
		t.Fatalf("sent %+v", sent)
	}
	if !m.Final {
		t.Error("reply lacks Final")
	}
	inv, _ := h.srv.Store.Inventory(context.Background(), deviceA)
	if inv.Nodes["./DevInfo/Man"] != "VMware, Inc." || inv.Nodes["./DevInfo/Mod"] != "VMware7,1" || inv.Nodes["./DevInfo/DevId"] != deviceA {
		t.Errorf("inventory %v", inv.Nodes)
	}
	if inv.Events["com.microsoft/MDM/LoginStatus"] != "user" {
		t.Errorf("client events %+v", inv.Events)
	}

	// Message 2: Status 202 for both.
	r, m = h.send(deviceA, capture.Read(t, "a-syncml-session1-msg2.xml"))
	if len(m.Commands) != 1 || !m.Final || m.Header.MsgID != "2" {
		t.Errorf("reply to statuses must be SyncHdr status + Final only: %+v", m.Commands)
	}
	cmds := h.commands(deviceA)
	for _, c := range []*store.Command{c1, c2} {
		got := cmds[c.ID]
		if got.State != store.CommandAcknowledged || got.Status != 202 {
			t.Errorf("%s: %s %d, want acknowledged 202", c.ID, got.State, got.Status)
		}
	}
	if q, _ := h.srv.Store.Queue(context.Background(), deviceA); len(q.Commands) != 0 {
		t.Errorf("queue still holds %d commands", len(q.Commands))
	}
	if len(r.Report.Acknowledged) != 2 {
		t.Errorf("report %+v", r.Report)
	}
}

// TestCaptureUnenroll replays device B's session after the user pressed
// Disconnect: the device is marked unenrolled, queued commands are
// canceled, and its certificate is refused afterwards.
func TestCaptureUnenroll(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceB)
	c := h.enqueue(deviceB, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}})

	r, m := h.send(deviceB, capture.Read(t, "b-syncml-session2-unenroll.xml"))
	if !r.Report.Unenrolled || headerStatus(t, m).Data != "200" || len(sentCommands(m)) != 0 || !m.Final {
		t.Fatalf("unenroll reply %+v %+v", r.Report, m.Commands)
	}
	inv, _ := h.srv.Store.Inventory(context.Background(), deviceB)
	if len(inv.Alerts) != 1 || inv.Alerts[0].Code != "1226" || inv.Alerts[0].Type != UnenrollmentAlertType {
		t.Errorf("generic alerts %+v", inv.Alerts)
	}
	dev, _ := h.srv.Store.Device(context.Background(), deviceB)
	if dev.State != store.StateUnenrolled || !strings.Contains(dev.StateReason, "unenrollment") {
		t.Errorf("device %s %q", dev.State, dev.StateReason)
	}
	got := h.commands(deviceB)[c.ID]
	if got.State != store.CommandCanceled || !strings.Contains(got.Reason, "unenrolled") {
		t.Errorf("command %s %q", got.State, got.Reason)
	}
	r, m = h.send(deviceB, msg(deviceB, "3", 1, "", session1Alert, true))
	if headerStatus(t, m).Data != "403" || !strings.Contains(r.Report.Refused, "unenrolled") {
		t.Errorf("unenrolled device's next session: %s %q", headerStatus(t, m).Data, r.Report.Refused)
	}
}
