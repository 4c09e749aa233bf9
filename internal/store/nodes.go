package store

import (
	"context"
	"errors"
	"time"
)

// Nodes of a cluster announce themselves with a heartbeat key, so that a
// node can tell a session served by a live node (its commands are in
// flight: leave them; its digest session token still opens the session)
// from one whose node died or restarted (take them back; the token is
// dead):
//
//	mdm/nodes/<NodeID>.json   {"seen": <time>, "boot": <boot ID>}   rewritten every HeartbeatInterval
//
// The boot ID is drawn by the node's process when it starts and never
// reused: a node restarted under the same node ID announces a new one.

// HeartbeatInterval is how often a node rewrites its heartbeat; a node not
// heard of for NodeTimeout is taken to be dead.
const (
	HeartbeatInterval = time.Second
	NodeTimeout       = 3 * time.Second
)

type heartbeat struct {
	Seen time.Time `json:"seen"`
	Boot string    `json:"boot,omitempty"`
}

func nodeKey(id string) string { return "mdm/nodes/" + id + ".json" }

// Heartbeat records that node id is alive at now, without naming its boot
// (see NodeHeartbeat).
func (s *Store) Heartbeat(ctx context.Context, id string, now time.Time) error {
	return s.NodeHeartbeat(ctx, id, "", now)
}

// NodeHeartbeat records that node id, running as the process that drew
// boot at its start, is alive at now.
func (s *Store) NodeHeartbeat(ctx context.Context, id, boot string, now time.Time) error {
	return s.storeJSON(ctx, nodeKey(id), heartbeat{Seen: now, Boot: boot})
}

// NodeAlive reports whether node id was heard of within NodeTimeout of now.
// A node that never wrote a heartbeat (a single node with file storage) is
// not alive; neither is one whose heartbeat cannot be read.
func (s *Store) NodeAlive(ctx context.Context, id string, now time.Time) bool {
	_, alive, err := s.NodeBoot(ctx, id, now)
	return err == nil && alive
}

// NodeBoot returns the boot ID of node id's latest heartbeat ("" if it
// named none) and whether that heartbeat is within NodeTimeout of now. An
// invalid, unknown or unreadable (corrupt) node is not alive; err is only
// the storage failing (ErrUnavailable), when nothing can be told.
func (s *Store) NodeBoot(ctx context.Context, id string, now time.Time) (boot string, alive bool, err error) {
	if !ValidDeviceID(id) {
		return "", false, nil
	}
	var hb heartbeat
	found, err := s.loadJSON(ctx, nodeKey(id), &hb)
	if errors.Is(err, ErrUnavailable) {
		return "", false, err
	}
	if err != nil || !found || now.Sub(hb.Seen) >= NodeTimeout {
		return "", false, nil
	}
	return hb.Boot, true, nil
}

// RemoveHeartbeat forgets node id (at a clean shutdown).
func (s *Store) RemoveHeartbeat(ctx context.Context, id string) error {
	return unavailable(s.storage.Delete(ctx, nodeKey(id)))
}
