package store

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"
)

// MaxFinishedCommands bounds the finished commands kept per device: the
// device page and GET /mdm/devices/<id>/commands read them all, and a
// device managed for years would otherwise keep every command it was ever
// sent. The oldest (by enqueue time, which command IDs sort by) are
// dropped when a session or an admin action finishes more.
const MaxFinishedCommands = 500

// FinishedCommands lists a device's finished commands, oldest first: the
// newest MaxFinishedCommands, however many are stored.
func (s *Store) FinishedCommands(ctx context.Context, deviceID string) ([]*Command, error) {
	keys, err := s.listSorted(ctx, commandsDir(deviceID))
	if err != nil {
		return nil, err
	}
	if n := len(keys); n > MaxFinishedCommands {
		keys = keys[n-MaxFinishedCommands:]
	}
	out := make([]*Command, 0, len(keys))
	for _, k := range keys {
		c := &Command{}
		if found, err := s.loadJSON(ctx, k, c); err != nil {
			return nil, err
		} else if found {
			out = append(out, c)
		}
	}
	return out, nil
}

// FinishedIDs names the device's finished commands with one listing and
// no record read (about MaxFinishedCommands names).
func (s *Store) FinishedIDs(ctx context.Context, deviceID string) (map[string]bool, error) {
	keys, err := s.listSorted(ctx, commandsDir(deviceID))
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(keys))
	for _, k := range keys {
		ids[strings.TrimSuffix(path.Base(k), ".json")] = true
	}
	return ids, nil
}

// PruneFinished drops the oldest finished commands of a device beyond
// MaxFinishedCommands and reports how many it dropped.
func (s *Store) PruneFinished(ctx context.Context, deviceID string) (int, error) {
	keys, err := s.listSorted(ctx, commandsDir(deviceID))
	if err != nil {
		return 0, err
	}
	n := len(keys) - MaxFinishedCommands
	for i := 0; i < n; i++ {
		if err := s.storage.Delete(ctx, keys[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return i, unavailable(err)
		}
	}
	return max(n, 0), nil
}

// FinishCommands stores commands finished outside an OMA-DM message (an
// admin's cancel, a device leaving management) together with the queue q
// that no longer holds them, in three writes such that no crash or storage
// failure leaves one both finished and deliverable: first the queue with
// them still in it in their final state (never sent; the device's next
// session finishes them), then their records, then q. Older finished
// commands beyond MaxFinishedCommands are then dropped (a failure there
// is not the caller's: the next finish drops them).
func (s *Store) FinishCommands(ctx context.Context, deviceID string, q *Queue, done []*Command) error {
	if len(done) == 0 {
		return nil
	}
	marked := &Queue{Commands: append(append(make([]*Command, 0, len(q.Commands)+len(done)), q.Commands...), done...)}
	if err := s.PutQueue(ctx, deviceID, marked); err != nil {
		return err
	}
	for _, c := range done {
		if err := s.PutCommand(ctx, c); err != nil {
			return err
		}
	}
	if err := s.PutQueue(ctx, deviceID, q); err != nil {
		return err
	}
	_, _ = s.PruneFinished(ctx, deviceID)
	return nil
}
