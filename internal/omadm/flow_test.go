package omadm

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

func replace(target, data string) store.CommandSpec {
	return store.CommandSpec{Verb: "Replace", Items: []store.ItemSpec{{Target: target, Data: data}}}
}

func TestBadInput(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	good := string(capture.Read(t, "a-syncml-session1-msg1.xml"))
	for name, tc := range map[string]struct {
		body       string
		httpStatus int
		hdrStatus  string
	}{
		"malformed XML":     {good[:200], 400, ""},
		"wrong namespace":   {strings.Replace(good, "SYNCML:SYNCML1.2", "SYNCML:SYNCML1.1", 1), 0, "400"},
		"cut after SyncHdr": {good[:strings.Index(good, "</SyncHdr>")+len("</SyncHdr>")] + "<SyncBody><Alert><CmdID>", 0, "400"},
		"too many nodes":    {strings.Replace(good, "<Final/>", strings.Repeat("<Final/>", 60000), 1), 413, ""},
		"missing SyncHdr":   {strings.Replace(strings.Replace(good, "<SyncHdr>", "<Hdr>", 1), "</SyncHdr>", "</Hdr>", 1), 400, ""},
		"bad device ID":     {strings.Replace(good, "<LocURI>1E08C6E95D8BB843B1278FF45BC60CC6</LocURI>", "<LocURI>../etc</LocURI>", 1), 400, ""},
		"no MsgID":          {strings.Replace(good, "<MsgID>1</MsgID>", "", 1), 400, ""},
		"unknown device":    {strings.ReplaceAll(good, deviceA, "0000000000000000000000000000AAAA"), 0, "403"},
		"duplicate CmdID":   {strings.Replace(good, "<CmdID>3</CmdID>", "<CmdID>2</CmdID>", 1), 0, "400"},
		"old DTD":           {strings.Replace(good, "<VerDTD>1.2</VerDTD>", "<VerDTD>1.1</VerDTD>", 1), 0, "505"},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := h.srv.Handle(context.Background(), Request{Body: []byte(tc.body), PeerCertificates: peerOf(h, deviceA), ServerURL: serverURL})
			if tc.httpStatus != 0 {
				var re *RequestError
				if !errors.As(err, &re) || re.Status != tc.httpStatus {
					t.Fatalf("got %v, want HTTP %d", err, tc.httpStatus)
				}
				if strings.Contains(tc.body, re.Msg) {
					t.Errorf("the answer %q echoes the input", re.Msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, _ := syncml.Parse(r.Body)
			if hs := headerStatus(t, m); hs.Data != tc.hdrStatus || len(m.Commands) != 1 || r.Report.Refused == "" {
				t.Errorf("SyncHdr %s (%d commands, refused %q), want %s", hs.Data, len(m.Commands), r.Report.Refused, tc.hdrStatus)
			}
		})
	}
	// Nothing of the refused messages was applied.
	if inv, _ := h.srv.Store.Inventory(context.Background(), deviceA); len(inv.Nodes) != 0 {
		t.Errorf("inventory written by refused messages: %v", inv.Nodes)
	}
}

func peerOf(h *harness, id string) []*x509.Certificate {
	return []*x509.Certificate{h.certs[id]}
}

// TestAtLeastOnce: a command sent in a session that died before its status
// is sent again, in order, in the next session.
func TestAtLeastOnce(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	c1 := h.enqueue(deviceA, replace("./Device/A", "1"))
	c2 := h.enqueue(deviceA, replace("./Device/B", "2"))
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	if n := len(sentCommands(m)); n != 2 {
		t.Fatalf("sent %d", n)
	}
	// The session dies; the device starts another.
	_, m = h.send(deviceA, msg(deviceA, "2", 1, "", session1Alert, true))
	sent := sentCommands(m)
	if len(sent) != 2 || sent[0].Items[0].Target != "./Device/A" || sent[1].Items[0].Target != "./Device/B" {
		t.Fatalf("resent %+v", sent)
	}
	_, m = h.send(deviceA, msg(deviceA, "2", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", sent[0].CmdID, "Replace", 200)+status(3, "1", sent[1].CmdID, "Replace", 200), true))
	cmds := h.commands(deviceA)
	for _, c := range []string{c1.ID, c2.ID} {
		if cmds[c].State != store.CommandAcknowledged || cmds[c].Attempts != 2 {
			t.Errorf("%s: %s after %d attempts", c, cmds[c].State, cmds[c].Attempts)
		}
	}
	if len(sentCommands(m)) != 0 {
		t.Error("acknowledged commands sent again")
	}
}

func TestGetResults(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	get := h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}})
	_, m := h.send(deviceA, capture.Read(t, "a-syncml-session1-msg1.xml"))
	sent := sentCommands(m)
	if len(sent) != 1 || sent[0].Name != "Get" || sent[0].CmdID != "5" || sent[0].Items[0].Target != "./DevDetail/SwV" {
		t.Fatalf("sent %+v", sent)
	}
	results := `<Results><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>5</CmdRef><Item><Source><LocURI>./DevDetail/SwV</LocURI></Source>` +
		`<Meta><Format xmlns="syncml:metinf">chr</Format></Meta><Data>10.0.19043.2364</Data></Item></Results>`
	_, m = h.send(deviceA, msg(deviceA, "1", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", "5", "Get", 200)+results, true))
	if len(m.Commands) != 1 {
		t.Errorf("Status and Results get no status: %+v", m.Commands)
	}
	c := h.commands(deviceA)[get.ID]
	if c.State != store.CommandAcknowledged || c.Status != 200 || len(c.Results) != 1 ||
		c.Results[0].Data != "10.0.19043.2364" || c.Results[0].Source != "./DevDetail/SwV" || c.Results[0].Format != "chr" {
		t.Errorf("command %+v", c)
	}
}

// TestOSVersionFollowsSwV: the build a device reports in ./DevDetail/SwV
// replaces the one it enrolled with, and its os: label follows from the
// next session; a value that is no build number is ignored.
func TestOSVersionFollowsSwV(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, AuthEither, nil)
	dev := h.enroll(deviceA)
	dev.OSVersion = "10.0.19043.2364"
	if err := h.srv.Store.PutDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	if l, _ := h.srv.Store.DeviceLabels(ctx, deviceA); !slices.Contains(l.Auto, "os:10.0.19043") {
		t.Fatalf("auto labels before the update: %v", l.Auto)
	}
	report := func(session, version string) {
		h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}})
		_, m := h.send(deviceA, msg(deviceA, session, 1, "", session1Alert, true))
		get := sentCommands(m)[0]
		h.send(deviceA, msg(deviceA, session, 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", get.CmdID, "Get", 200)+
			`<Results><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>`+get.CmdID+`</CmdRef><Item><Source><LocURI>./DevDetail/SwV</LocURI></Source><Data>`+version+`</Data></Item></Results>`, true))
	}
	report("2", "10.0.22631.2861")
	if d, _ := h.srv.Store.Device(ctx, deviceA); d.OSVersion != "10.0.22631.2861" {
		t.Fatalf("OS version %q after the device reported 10.0.22631.2861", d.OSVersion)
	}
	h.send(deviceA, msg(deviceA, "3", 1, "", session1Alert, true))
	if l, _ := h.srv.Store.DeviceLabels(ctx, deviceA); !slices.Contains(l.Auto, "os:10.0.22631") || slices.Contains(l.Auto, "os:10.0.19043") {
		t.Errorf("auto labels after the update: %v", l.Auto)
	}
	report("4", "Windows 11 (22631)")
	if d, _ := h.srv.Store.Device(ctx, deviceA); d.OSVersion != "10.0.22631.2861" {
		t.Errorf("OS version %q after a report that is no build number", d.OSVersion)
	}
}

// TestMaxMsgSizeSplits: commands that do not fit the device's MaxMsgSize go
// in further messages of the package, without Final until the last.
func TestMaxMsgSizeSplits(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	for i := range 6 {
		h.enqueue(deviceA, replace(fmt.Sprintf("./Device/N%d", i), strings.Repeat("x", 300)))
	}
	meta := `<Meta><MaxMsgSize xmlns="syncml:metinf">1500</MaxMsgSize></Meta>`
	r, m := h.send(deviceA, msg(deviceA, "1", 1, meta, session1Alert, true))
	total := 0
	for msgID := 1; ; msgID++ {
		if len(r.Body) > 1500 {
			t.Errorf("message %d is %d bytes, over MaxMsgSize 1500", msgID, len(r.Body))
		}
		sent := sentCommands(m)
		total += len(sent)
		if m.Final {
			break
		}
		if len(sent) == 0 || msgID > 10 {
			t.Fatalf("message %d without Final sends nothing", msgID)
		}
		var body strings.Builder
		body.WriteString(status(1, itoa(msgID), "0", "SyncHdr", 200))
		for i, c := range sent {
			body.WriteString(status(2+i, itoa(msgID), c.CmdID, "Replace", 200))
		}
		body.WriteString(`<Alert><CmdID>99</CmdID><Data>1222</Data></Alert>`)
		r, m = h.send(deviceA, msg(deviceA, "1", msgID+1, "", body.String(), true))
	}
	if total != 6 {
		t.Errorf("%d commands delivered, want 6", total)
	}
}

// TestLargeObjectToDevice: an item too large for one message goes in chunks
// with MoreData, the first announcing the size; 213 asks for the next.
func TestLargeObjectToDevice(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	data := strings.Repeat("0123456789", 500) // 5000 bytes
	c := h.enqueue(deviceA, replace("./Vendor/MSFT/Big", data))
	meta := `<Meta><MaxMsgSize xmlns="syncml:metinf">2000</MaxMsgSize></Meta>`
	r, m := h.send(deviceA, msg(deviceA, "1", 1, meta, session1Alert, true))
	var got strings.Builder
	for msgID := 1; msgID < 20; msgID++ {
		if len(r.Body) > 2000 {
			t.Fatalf("message %d is %d bytes", msgID, len(r.Body))
		}
		sent := sentCommands(m)
		if len(sent) != 1 {
			t.Fatalf("message %d: %+v", msgID, sent)
		}
		it := sent[0].Items[0]
		got.WriteString(it.Data)
		if msgID == 1 && (it.Meta == nil || it.Meta.Size != "5000") {
			t.Errorf("first chunk does not announce Size 5000: %+v", it.Meta)
		}
		code := 213
		if !it.MoreData {
			code = 200
		}
		if it.MoreData == m.Final {
			t.Errorf("message %d: MoreData %v with Final %v", msgID, it.MoreData, m.Final)
		}
		r, m = h.send(deviceA, msg(deviceA, "1", msgID+1, "", status(1, itoa(msgID), "0", "SyncHdr", 200)+status(2, itoa(msgID), sent[0].CmdID, "Replace", code), true))
		if code == 200 {
			break
		}
	}
	if got.String() != data {
		t.Fatalf("reassembled %d bytes, want %d", got.Len(), len(data))
	}
	if cmd := h.commands(deviceA)[c.ID]; cmd.State != store.CommandAcknowledged || cmd.Status != 200 {
		t.Errorf("command %s %d", cmd.State, cmd.Status)
	}
}

// TestLargeObjectFromDevice: Results in chunks are acknowledged with 213 and
// Alert 1222, then reassembled.
func TestLargeObjectFromDevice(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	get := h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./Vendor/MSFT/Log"}}})
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	cmdID := sentCommands(m)[0].CmdID
	chunk := func(data string, more bool, size string) string {
		meta, md := "", ""
		if size != "" {
			meta = `<Meta><Size xmlns="syncml:metinf">` + size + `</Size></Meta>`
		}
		if more {
			md = "<MoreData/>"
		}
		return `<Results><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>` + cmdID + `</CmdRef><Item><Source><LocURI>./Vendor/MSFT/Log</LocURI></Source>` + meta + `<Data>` + data + `</Data>` + md + `</Item></Results>`
	}
	_, m = h.send(deviceA, msg(deviceA, "1", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", cmdID, "Get", 200)+chunk("part1-", true, "11"), false))
	var st213, alert bool
	for _, c := range m.Commands {
		st213 = st213 || (c.Name == "Status" && c.Cmd == "Results" && c.Data == "213")
		alert = alert || (c.Name == "Alert" && c.Data == "1222")
	}
	if !st213 || !alert || m.Final {
		t.Fatalf("chunk answer %+v (final %v)", m.Commands, m.Final)
	}
	_, m = h.send(deviceA, msg(deviceA, "1", 3, "", status(1, "2", "0", "SyncHdr", 200)+chunk("part2", false, ""), true))
	if !m.Final {
		t.Error("no Final after the last chunk")
	}
	c := h.commands(deviceA)[get.ID]
	if len(c.Results) != 1 || c.Results[0].Data != "part1-part2" {
		t.Errorf("results %+v", c.Results)
	}

	// An object that does not add up to its announced Size is refused (424).
	_, _ = h.send(deviceA, msg(deviceA, "1", 4, "", chunk("abc", true, "99"), false))
	_, m = h.send(deviceA, msg(deviceA, "1", 5, "", chunk("def", false, ""), true))
	var mismatch bool
	for _, c := range m.Commands {
		mismatch = mismatch || (c.Name == "Status" && c.Cmd == "Results" && c.Data == "424")
	}
	if !mismatch {
		t.Errorf("size mismatch not answered with 424: %+v", m.Commands)
	}
	if c := h.commands(deviceA)[get.ID]; len(c.Results) != 1 {
		t.Errorf("a refused object was stored: %+v", c.Results)
	}
}

func TestAtomic(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	a := h.enqueue(deviceA, store.CommandSpec{Verb: "Atomic", Commands: []store.CommandSpec{replace("./Device/A", "1"), replace("./Device/B", "2")}})
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	sent := sentCommands(m)
	if len(sent) != 1 || sent[0].Name != "Atomic" || len(sent[0].Children) != 2 || sent[0].CmdID != "3" ||
		sent[0].Children[0].CmdID != "4" || sent[0].Children[1].CmdID != "5" {
		t.Fatalf("atomic on the wire: %+v", sent)
	}
	_, _ = h.send(deviceA, msg(deviceA, "1", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", "4", "Replace", 200)+status(3, "1", "5", "Replace", 500)+status(4, "1", "3", "Atomic", 507), true))
	c := h.commands(deviceA)[a.ID]
	if c.Status != 507 || len(c.ChildStatuses) != 2 || c.ChildStatuses[0] != 200 || c.ChildStatuses[1] != 500 {
		t.Errorf("atomic statuses %d %v", c.Status, c.ChildStatuses)
	}
}

func TestSpecValidation(t *testing.T) {
	for name, spec := range map[string]store.CommandSpec{
		"unknown verb":    {Verb: "Copy", Items: []store.ItemSpec{{Target: "./A"}}},
		"no items":        {Verb: "Replace"},
		"relative target": {Verb: "Get", Items: []store.ItemSpec{{Target: "Device/A"}}},
		"get with data":   {Verb: "Get", Items: []store.ItemSpec{{Target: "./A", Data: "x"}}},
		"get in atomic":   {Verb: "Atomic", Commands: []store.CommandSpec{{Verb: "Get", Items: []store.ItemSpec{{Target: "./A"}}}}},
		"nested atomic":   {Verb: "Atomic", Commands: []store.CommandSpec{{Verb: "Atomic", Commands: []store.CommandSpec{replace("./A", "1")}}}},
		"empty atomic":    {Verb: "Atomic"},
		"bad xml data":    {Verb: "Exec", Items: []store.ItemSpec{{Target: "./A", Data: "<a>", DataXML: true}}},
		"too much data":   replace("./A", strings.Repeat("x", MaxCommandData+1)),
		"unknown format":  {Verb: "Replace", Items: []store.ItemSpec{{Target: "./A", Format: "weird", Data: "1"}}},
	} {
		if err := ValidateSpec(&spec); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("%s: %v", name, err)
		}
	}
	spec, err := ParseRawCommand(`<Replace><CmdID>9</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/X</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>1</Data></Item></Replace>`)
	if err != nil || spec.Verb != "Replace" || spec.Items[0].Format != "int" || spec.Items[0].Data != "1" {
		t.Errorf("raw command: %+v %v", spec, err)
	}
	if _, err := ParseRawCommand(`<Replace><Item>`); err == nil {
		t.Error("broken raw command accepted")
	}
}

func TestCancel(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	c1 := h.enqueue(deviceA, replace("./Device/A", "1"))
	c2 := h.enqueue(deviceA, replace("./Device/B", "2"))
	if _, err := h.srv.Cancel(context.Background(), deviceA, c2.ID, "changed my mind"); err != nil {
		t.Fatal(err)
	}
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	if sent := sentCommands(m); len(sent) != 1 || sent[0].Items[0].Target != "./Device/A" {
		t.Fatalf("sent %+v", sent)
	}
	if _, err := h.srv.Cancel(context.Background(), deviceA, c1.ID, "too late"); !errors.Is(err, ErrNotCancelable) {
		t.Errorf("cancel of a sent command: %v", err)
	}
	if _, err := h.srv.Cancel(context.Background(), deviceA, "0000000000000000deadbeef", "x"); !errors.Is(err, ErrCommandNotFound) {
		t.Errorf("cancel of an unknown command: %v", err)
	}
	if c := h.commands(deviceA)[c2.ID]; c.State != store.CommandCanceled || c.Reason != "changed my mind" {
		t.Errorf("canceled command %+v", c)
	}
}

// TestConcurrentSessions: many devices in parallel, and two sessions of one
// device racing: every command is acknowledged exactly once, none is lost.
func TestConcurrentSessions(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	ids := []string{deviceA, deviceB, "0000000000000000000000000000000C"}
	want := map[string]int{}
	for _, id := range ids {
		h.enroll(id)
		for i := range 5 {
			h.enqueue(id, replace(fmt.Sprintf("./Device/N%d", i), "v"))
		}
		want[id] = 5
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		for s := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := range 3 {
					session := fmt.Sprintf("%d%d", s, round)
					_, m := h.send(id, msg(id, session, 1, "", session1Alert, true))
					var body strings.Builder
					body.WriteString(status(1, "1", "0", "SyncHdr", 200))
					for i, c := range sentCommands(m) {
						body.WriteString(status(2+i, "1", c.CmdID, c.Name, 200))
					}
					h.send(id, msg(id, session, 2, "", body.String(), true))
				}
			}()
		}
	}
	wg.Wait()
	for _, id := range ids {
		cmds := h.commands(id)
		acked := 0
		for _, c := range cmds {
			if c.State == store.CommandAcknowledged {
				acked++
			}
		}
		q, _ := h.srv.Store.Queue(context.Background(), id)
		if len(cmds) != want[id] || acked+len(q.Commands) != want[id] {
			t.Errorf("%s: %d commands, %d acknowledged, %d pending; want %d in all", id, len(cmds), acked, len(q.Commands), want[id])
		}
	}
}

// TestMaxMsgSizeTooSmallForAnyChunk: a device whose MaxMsgSize leaves no
// room for even one chunk in a reply of nothing else gets the command
// refused (413) and the package ends; waiting for the next message would
// ask the device for more messages forever, each as empty as the last.
func TestMaxMsgSizeTooSmallForAnyChunk(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	c := h.enqueue(deviceA, replace("./Vendor/MSFT/Big", strings.Repeat("x", 3000)))
	small := h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}})
	meta := `<Meta><MaxMsgSize xmlns="syncml:metinf">700</MaxMsgSize></Meta>`
	r, m := h.send(deviceA, msg(deviceA, "1", 1, meta, session1Alert, true))
	for msgID := 1; !m.Final; msgID++ {
		if msgID > 5 {
			t.Fatalf("no Final after %d messages: %s", msgID, r.Body)
		}
		if len(sentCommands(m)) == 0 {
			t.Fatalf("message %d asks for more but sends nothing", msgID)
		}
		r, m = h.send(deviceA, msg(deviceA, "1", msgID+1, "", status(1, itoa(msgID), "0", "SyncHdr", 200)+`<Alert><CmdID>2</CmdID><Data>1222</Data></Alert>`, true))
	}
	got := h.commands(deviceA)
	if cmd := got[c.ID]; cmd.State != store.CommandAcknowledged || cmd.Status != 413 || !strings.Contains(cmd.Reason, "MaxMsgSize") {
		t.Errorf("oversized command: %s %d %q", cmd.State, cmd.Status, cmd.Reason)
	}
	if cmd := got[small.ID]; cmd.State != store.CommandSent {
		t.Errorf("the command after it: %s, want sent", cmd.State)
	}
}

// TestSessionAbort: Alert 1223 (SESSION ABORT, MS-MDM 2.2.7.2) ends the
// session: the reply answers the device's commands, sends none and is
// Final; a command queued meanwhile waits for the next session, and one
// sent without a status goes out again then.
func TestSessionAbort(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	first := h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}})
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	if len(sentCommands(m)) != 1 {
		t.Fatalf("first message: %+v", m.Commands)
	}
	second := h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/OEM"}}})
	_, m = h.send(deviceA, msg(deviceA, "1", 2, "", status(1, "1", "0", "SyncHdr", 200)+`<Alert><CmdID>2</CmdID><Data>1223</Data></Alert>`, true))
	if !m.Final || len(sentCommands(m)) != 0 {
		t.Fatalf("reply to an abort: Final %v, commands %+v", m.Final, sentCommands(m))
	}
	if len(m.Commands) != 2 || m.Commands[1].Cmd != syncml.CmdAlert || m.Commands[1].Data != "200" {
		t.Errorf("the abort is not answered with a status: %+v", m.Commands)
	}
	_, m = h.send(deviceA, msg(deviceA, "2", 1, "", session1Alert, true))
	var targets []string
	for _, c := range sentCommands(m) {
		targets = append(targets, c.Items[0].Target)
	}
	if len(targets) != 2 {
		t.Errorf("next session sends %v, want both %s (resent) and %s", targets, first.ID, second.ID)
	}
}

// TestQueueBoundedInBytes: a device's queue (one storage key, rewritten by
// every enqueue and session) holds at most MaxQueuedData bytes of command
// data; past it an enqueue is refused with ErrQueueFull, not written.
func TestQueueBoundedInBytes(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	big := strings.Repeat("x", MaxCommandData-100)
	n := MaxQueuedData / len(big)
	for i := range n {
		h.enqueue(deviceA, replace(fmt.Sprintf("./Device/Big%d", i), big))
	}
	_, err := h.srv.Enqueue(context.Background(), deviceA, replace("./Device/OneTooMany", big))
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("enqueue past %d bytes: %v, want ErrQueueFull", MaxQueuedData, err)
	}
	if got := len(h.commands(deviceA)); got != n {
		t.Errorf("%d commands queued, want %d", got, n)
	}
	// A small command still fits.
	h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}})
}
