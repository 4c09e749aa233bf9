package omadm

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// TestTakeoverAcrossNodes: a new session on node B leaves alone the
// commands in flight in a session of node A while A is alive (they are
// acknowledged there, once); once A's heartbeat stops, B's next session
// takes back what A never got answered.
func TestTakeoverAcrossNodes(t *testing.T) {
	h := newHarness(t, AuthEither, store.NewMemory())
	now := time.Now()
	h.srv.Now = func() time.Time { return now }
	h.srv.NodeID = "node-A"
	a := h.srv
	b := &Server{Store: a.Store, ProviderID: a.ProviderID, Auth: a.Auth, Roots: a.Roots, Now: a.Now, NodeID: "node-B"}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	beat := func() {
		if err := a.Store.Heartbeat(ctx, "node-A", now); err != nil {
			t.Fatal(err)
		}
	}
	h.enroll(deviceA)
	c1 := h.enqueue(deviceA, replace("./Device/A", "1"))
	beat()

	// Session 1 on A takes c1.
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	if sent := sentCommands(m); len(sent) != 1 {
		t.Fatalf("A sent %d", len(sent))
	}
	c2 := h.enqueue(deviceA, replace("./Device/B", "2"))

	// Session 2 on B, A alive: c1 stays with A; B gets c2 only.
	h.srv = b
	_, mb := h.send(deviceA, msg(deviceA, "2", 1, "", session1Alert, true))
	sent := sentCommands(mb)
	if len(sent) != 1 || sent[0].Items[0].Target != "./Device/B" {
		t.Fatalf("B sent %+v, want only ./Device/B", sent)
	}
	// A's session acknowledges c1; B's acknowledges c2.
	h.srv = a
	h.send(deviceA, msg(deviceA, "1", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", sentCommands(m)[0].CmdID, "Replace", 200), true))
	h.srv = b
	h.send(deviceA, msg(deviceA, "2", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", sent[0].CmdID, "Replace", 200), true))
	cmds := h.commands(deviceA)
	for _, c := range []string{c1.ID, c2.ID} {
		if cmds[c].State != store.CommandAcknowledged || cmds[c].Attempts != 1 {
			t.Errorf("%s: %s after %d attempts", c, cmds[c].State, cmds[c].Attempts)
		}
	}

	// Session 3 on A takes c3, then A dies (no more heartbeat).
	c3 := h.enqueue(deviceA, replace("./Device/C", "3"))
	h.srv = a
	beat()
	if _, m := h.send(deviceA, msg(deviceA, "3", 1, "", session1Alert, true)); len(sentCommands(m)) != 1 {
		t.Fatal("A did not send c3")
	}
	now = now.Add(store.NodeTimeout + time.Second)
	h.srv = b
	_, mb = h.send(deviceA, msg(deviceA, "4", 1, "", session1Alert, true))
	if sent := sentCommands(mb); len(sent) != 1 || sent[0].Items[0].Target != "./Device/C" {
		t.Fatalf("after A died, B sent %+v, want ./Device/C again", sent)
	}
	_ = c3
}
