package omadm

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// deviceReplace is a device's Replace of n nodes ./Vendor/X/<prefix><i>.
func deviceReplace(cmdID int, prefix string, n int, value string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<Replace><CmdID>%d</CmdID>`, cmdID)
	for i := range n {
		fmt.Fprintf(&b, `<Item><Source><LocURI>./Vendor/X/%s%d</LocURI></Source><Data>%s</Data></Item>`, prefix, i, value)
	}
	b.WriteString(`</Replace>`)
	return b.String()
}

// statusesFor returns the reply's Status commands answering CmdRef cmdRef.
func statusesFor(m *syncml.Message, cmdRef string) []*syncml.Command {
	var out []*syncml.Command
	for _, c := range m.Commands {
		if c.Name == syncml.CmdStatus && c.CmdRef == cmdRef && c.Cmd != syncml.CmdSyncHdr {
			out = append(out, c)
		}
	}
	return out
}

// TestInventoryBoundedPerItem: nodes a device reports beyond the inventory
// bounds are answered 413 item by item (SourceRef) and not kept; the rest
// of the command is kept and answered 200.
func TestInventoryBoundedPerItem(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	big := strings.Repeat("x", store.MaxInventoryValue+1)
	body := `<Replace><CmdID>2</CmdID>` +
		`<Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>Contoso</Data></Item>` +
		`<Item><Source><LocURI>./Vendor/X/Big</LocURI></Source><Data>` + big + `</Data></Item>` +
		`<Item><Source><LocURI>./DevInfo/Mod</LocURI></Source><Data>VM</Data></Item></Replace>`
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", body, true))
	sts := statusesFor(m, "2")
	if len(sts) != 2 || sts[0].Data != "200" || strings.Join(sts[0].SourceRef, ",") != "./DevInfo/Man,./DevInfo/Mod" ||
		sts[1].Data != "413" || strings.Join(sts[1].SourceRef, ",") != "./Vendor/X/Big" {
		t.Fatalf("statuses %+v", sts)
	}
	inv, err := h.srv.Store.Inventory(context.Background(), deviceA)
	if err != nil || inv.Nodes["./DevInfo/Man"] != "Contoso" || inv.Nodes["./DevInfo/Mod"] != "VM" {
		t.Fatalf("inventory %v %v", inv, err)
	}
	if _, ok := inv.Nodes["./Vendor/X/Big"]; ok {
		t.Error("a value over MaxInventoryValue was kept")
	}

	// Sessions of 1,000 new nodes each: the inventory stops at its bound.
	for s := range 3 {
		_, m = h.send(deviceA, msg(deviceA, fmt.Sprint(s+2), 1, "", deviceReplace(2, fmt.Sprintf("s%d-", s), 1000, "v"), true))
		if s == 2 {
			sts = statusesFor(m, "2")
			if len(sts) != 1 || sts[0].Data != "413" || len(sts[0].SourceRef) != 1000 {
				t.Fatalf("third session: %d statuses, first %+v", len(sts), sts[0].Data)
			}
		}
	}
	inv, _ = h.srv.Store.Inventory(context.Background(), deviceA)
	if len(inv.Nodes) != store.MaxInventoryNodes {
		t.Errorf("%d nodes kept, want %d", len(inv.Nodes), store.MaxInventoryNodes)
	}
}

// TestEventTypesBounded: Alert 1224 event types beyond MaxInventoryEvents
// are answered 413 and not kept.
func TestEventTypesBounded(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	var b strings.Builder
	b.WriteString(`<Alert><CmdID>2</CmdID><Data>1224</Data>`)
	for i := range store.MaxInventoryEvents + 6 {
		fmt.Fprintf(&b, `<Item><Source><LocURI>./Vendor/E%d</LocURI></Source><Meta><Type xmlns="syncml:metinf">com.example/E%d</Type></Meta><Data>x</Data></Item>`, i, i)
	}
	b.WriteString(`</Alert>`)
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", b.String(), true))
	sts := statusesFor(m, "2")
	if len(sts) != 2 || sts[1].Data != "413" || len(sts[1].SourceRef) != 6 {
		t.Fatalf("statuses %+v", sts)
	}
	inv, _ := h.srv.Store.Inventory(context.Background(), deviceA)
	if len(inv.Events) != store.MaxInventoryEvents {
		t.Errorf("%d event types kept", len(inv.Events))
	}
}

// getResults is a device's Results for our Get at MsgRef 1, CmdRef cmdRef.
func getResults(cmdID int, cmdRef, data string) string {
	return fmt.Sprintf(`<Results><CmdID>%d</CmdID><MsgRef>1</MsgRef><CmdRef>%s</CmdRef><Item><Source><LocURI>./Vendor/MSFT/Log</LocURI></Source><Data>%s</Data></Item></Results>`, cmdID, cmdRef, data)
}

// TestResultsAfterTheirStatusKept: a device that splits its package puts
// the Get's Status at the end of one message (no Final) and its Results at
// the start of the next; they are kept, not refused as late.
func TestResultsAfterTheirStatusKept(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	get := h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./Vendor/MSFT/Log"}}})
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	cmdID := sentCommands(m)[0].CmdID
	h.send(deviceA, msg(deviceA, "1", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", cmdID, "Get", 200), false))
	_, m = h.send(deviceA, msg(deviceA, "1", 3, "", getResults(1, cmdID, "value")+getResults(2, cmdID, "more"), true))
	for _, c := range m.Commands {
		if c.Name == syncml.CmdStatus && c.Cmd == "Results" && c.Data != "200" {
			t.Errorf("Results after their Status answered %s", c.Data)
		}
	}
	if c := h.commands(deviceA)[get.ID]; len(c.Results) != 2 || c.Results[0].Data != "value" || c.Results[1].Data != "more" {
		t.Errorf("results %+v", c.Results)
	}
}

// TestResultsBoundedPerCommand: a command's results stop at
// MaxCommandResults; the Results that would pass it are answered 413.
func TestResultsBoundedPerCommand(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	get := h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./Vendor/MSFT/Log"}}})
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	cmdID := sentCommands(m)[0].CmdID
	mib := strings.Repeat("x", 1<<20)
	var body strings.Builder
	for i := range 6 {
		body.WriteString(getResults(3+i, cmdID, mib))
	}
	_, m = h.send(deviceA, msg(deviceA, "1", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", cmdID, "Get", 200)+body.String(), true))
	refused := 0
	for _, c := range m.Commands {
		if c.Name == syncml.CmdStatus && c.Cmd == "Results" && c.Data == "413" {
			refused++
		}
	}
	c := h.commands(deviceA)[get.ID]
	kept := 0
	for _, r := range c.Results {
		kept += len(r.Data)
	}
	if refused == 0 || kept > MaxCommandResults || len(c.Results)+refused != 6 {
		t.Errorf("%d Results refused, %d kept (%d bytes)", refused, len(c.Results), kept)
	}
}
