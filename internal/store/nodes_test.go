package store

import (
	"context"
	"testing"
	"time"
)

// TestNodeBoot: a heartbeat names the boot of the node's process, alive
// within NodeTimeout; a node unknown, stale, corrupt or misnamed is not.
func TestNodeBoot(t *testing.T) {
	ctx := context.Background()
	s := New(NewMemory())
	now := time.Now()
	if err := s.NodeHeartbeat(ctx, "node-A", "boot-1", now); err != nil {
		t.Fatal(err)
	}
	if boot, alive, err := s.NodeBoot(ctx, "node-A", now.Add(NodeTimeout-time.Millisecond)); boot != "boot-1" || !alive || err != nil {
		t.Errorf("live node: %q %v %v", boot, alive, err)
	}
	if _, alive, err := s.NodeBoot(ctx, "node-A", now.Add(NodeTimeout)); alive || err != nil {
		t.Errorf("stale node alive: %v %v", alive, err)
	}
	// A restart under the same node ID announces its new boot.
	if err := s.NodeHeartbeat(ctx, "node-A", "boot-2", now); err != nil {
		t.Fatal(err)
	}
	if boot, _, _ := s.NodeBoot(ctx, "node-A", now); boot != "boot-2" {
		t.Errorf("restarted node: boot %q", boot)
	}
	if err := s.Heartbeat(ctx, "node-B", now); err != nil {
		t.Fatal(err)
	}
	if boot, alive, _ := s.NodeBoot(ctx, "node-B", now); boot != "" || !alive || !s.NodeAlive(ctx, "node-B", now) {
		t.Errorf("heartbeat without boot: %q %v", boot, alive)
	}
	if err := s.storage.Store(ctx, nodeKey("node-C"), []byte("{")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"node-C", "node-D", "../x"} {
		if _, alive, err := s.NodeBoot(ctx, id, now); alive || err != nil {
			t.Errorf("node %q: alive %v, err %v", id, alive, err)
		}
	}
}
