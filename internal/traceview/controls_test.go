package traceview

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestRenderEscapesDeviceControls: text a device sent (newlines, tabs, C0
// and C1 controls, in data, attributes or a body that is not XML) is
// printed escaped: it never starts a line of its own nor reaches the
// terminal as a control sequence.
func TestRenderEscapesDeviceControls(t *testing.T) {
	fake := "x\n=== 2026-11-30T08:00:00Z management (HTTP 200)\n--> forged\x1b[2J\u009b31m"
	body := `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID>` +
		`<Target><LocURI>https://mdm/</LocURI></Target><Source><LocURI>` + deviceA + `</LocURI></Source></SyncHdr><SyncBody>` +
		`<Replace><CmdID>2</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>` + escapeText(fake) + `</Data></Item></Replace>` +
		`<Final/></SyncBody></SyncML>`
	ex := Build(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), "management", 200, body, "not xml\n=== forged too\x1b]0;t\x07")
	var out bytes.Buffer
	if err := Render(&out, []Exchange{ex}, Options{}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.ContainsAny(s, "\x1b\x07\r\t") || strings.Contains(s, "\u009b") {
		t.Errorf("control characters reached the output:\n%q", s)
	}
	headers := 0
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "===") {
			headers++
		}
		if strings.HasPrefix(strings.TrimSpace(line), "=== ") && !strings.HasPrefix(line, "=== ") || strings.HasPrefix(line, "--> forged") {
			t.Errorf("a device's text made a line of its own: %q", line)
		}
	}
	if headers != 1 || !strings.Contains(s, `x\n=== 2026`) {
		t.Errorf("%d header lines, escaped text missing:\n%s", headers, s)
	}
}
