package omadm

import (
	"bytes"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// TestGoldenHeaderStatus pins the Status for the SyncHdr to the form of
// Microsoft's example (MS-MDM §4) and of the answers a real Windows 10 PC
// accepted (Fleet's dump): CmdID, MsgRef, CmdRef, Cmd, Data, with no
// TargetRef or SourceRef (MS-MDM §2.2.6.1: a single Status MUST NOT carry
// them). See integration/device-evidence.md.
func TestGoldenHeaderStatus(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	r, _ := h.send(deviceA, capture.Read(t, "a-syncml-session1-msg1.xml"))
	want := []byte(`<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>`)
	if !bytes.Contains(r.Body, want) {
		t.Errorf("reply lacks the SyncHdr Status %s:\n%s", want, r.Body)
	}
	// A challenge keeps Chal before Data, as the OMA DTD orders them.
	r, _ = h.sendWith(nil, capture.Read(t, "a-syncml-session1-msg1.xml"))
	if !bytes.Contains(r.Body, []byte(`<Cmd>SyncHdr</Cmd><Chal><Meta>`)) || !bytes.Contains(r.Body, []byte(`</Chal><Data>407</Data></Status>`)) {
		t.Errorf("challenge Status out of order:\n%s", r.Body)
	}
}
