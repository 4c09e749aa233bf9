package store

import (
	"context"
	"time"
)

// Nodes of a cluster announce themselves with a heartbeat key, so that a
// node can tell a session served by a live node (its commands are in
// flight: leave them) from one whose node died (take them back):
//
//	mdm/nodes/<NodeID>.json   {"seen": <time>}   rewritten every HeartbeatInterval

// HeartbeatInterval is how often a node rewrites its heartbeat; a node not
// heard of for NodeTimeout is taken to be dead.
const (
	HeartbeatInterval = time.Second
	NodeTimeout       = 3 * time.Second
)

type heartbeat struct {
	Seen time.Time `json:"seen"`
}

func nodeKey(id string) string { return "mdm/nodes/" + id + ".json" }

// Heartbeat records that node id is alive at now.
func (s *Store) Heartbeat(ctx context.Context, id string, now time.Time) error {
	return s.storeJSON(ctx, nodeKey(id), heartbeat{Seen: now})
}

// NodeAlive reports whether node id was heard of within NodeTimeout of now.
// A node that never wrote a heartbeat (a single node with file storage) is
// not alive; neither is one whose heartbeat cannot be read.
func (s *Store) NodeAlive(ctx context.Context, id string, now time.Time) bool {
	if !ValidDeviceID(id) {
		return false
	}
	var hb heartbeat
	found, err := s.loadJSON(ctx, nodeKey(id), &hb)
	return err == nil && found && now.Sub(hb.Seen) < NodeTimeout
}

// RemoveHeartbeat forgets node id (at a clean shutdown).
func (s *Store) RemoveHeartbeat(ctx context.Context, id string) error {
	return unavailable(s.storage.Delete(ctx, nodeKey(id)))
}
