package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"sync"
)

// The device index: one small key per device under its state, sharded by
// the first two characters of the DeviceID (see the package comment for
// the layout and the cost of each operation):
//
//	mdm/index/state/<state>/<shard>/<DeviceID>   "1"
//
// Sharding by prefix keeps the shards in DeviceID order, so a page after a
// cursor starts in the cursor's shard and reads the next ones only as far
// as it needs; each listing returns at most a shard's names (about
// N/256 for Windows' hex IDs), never the fleet.

const (
	indexPrefix     = "mdm/index/state"
	indexMarkerKey  = "mdm/index/version.json"
	indexVersion    = 1
	pageLoadWorkers = 16
)

// IndexedStates are the device states the index keeps, in listing order.
var IndexedStates = []DeviceState{StateEnrolled, StateUnenrolled, StateRetired}

// KeyCounter is implemented by a storage that can count the keys directly
// below several directories in one round trip, without listing them
// (caddymdm wraps caddy-storage-redis so: one ZCARD per directory,
// pipelined). Without it, counting lists the shards.
type KeyCounter interface {
	CountKeys(ctx context.Context, dirs []string) ([]int, error)
}

// shardOf is the index shard of a device ID: its first two characters.
func shardOf(id string) string {
	if len(id) < 2 {
		return id
	}
	return id[:2]
}

func stateIndexDir(st DeviceState) string { return indexPrefix + "/" + string(st) }
func stateIndexKey(st DeviceState, id string) string {
	return stateIndexDir(st) + "/" + shardOf(id) + "/" + id
}

func knownState(st DeviceState) bool {
	for _, s := range IndexedStates {
		if s == st {
			return true
		}
	}
	return false
}

// IndexEntries returns the keys and values PutDevice writes for a new
// record: the record and its state's index entry. Seeding tools write them
// straight into a storage.
func IndexEntries(d *Device) (map[string][]byte, error) {
	if !ValidDeviceID(d.DeviceID) || !knownState(d.State) {
		return nil, fmt.Errorf("invalid device %q in state %q", d.DeviceID, d.State)
	}
	rec, err := jsonBytes(d)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{deviceKey(d.DeviceID): rec, stateIndexKey(d.State, d.DeviceID): []byte("1")}, nil
}

// putDeviceIndexed writes a record and keeps the state index in step: the
// new state's entry first, then the record, then the old state's entry
// removed. A crash in between leaves a device listed under two states,
// never under none; listings check each entry against the record, so it
// shows once, under its record's state (counts may include it twice until
// its next state change).
func (s *Store) putDeviceIndexed(ctx context.Context, d *Device) error {
	changed := d.indexed != d.State
	if changed && knownState(d.State) {
		if err := s.storage.Store(ctx, stateIndexKey(d.State, d.DeviceID), []byte("1")); err != nil {
			return fmt.Errorf("indexing %s: %w", d.DeviceID, unavailable(err))
		}
	}
	if err := s.storeJSON(ctx, deviceKey(d.DeviceID), d); err != nil {
		return err
	}
	if !changed {
		return nil
	}
	old := []DeviceState{d.indexed}
	if d.indexed == "" {
		// A record written without reading the stored one (an enrollment):
		// whatever state an earlier record had, its entry goes.
		old = IndexedStates
	}
	for _, st := range old {
		if st == d.State || !knownState(st) {
			continue
		}
		if err := s.storage.Delete(ctx, stateIndexKey(st, d.DeviceID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unindexing %s: %w", d.DeviceID, unavailable(err))
		}
	}
	d.indexed = d.State
	return nil
}

// listNames returns the last path segments of the keys directly below dir,
// sorted (none if dir does not exist).
func (s *Store) listNames(ctx context.Context, dir string) ([]string, error) {
	keys, err := s.storage.List(ctx, dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, unavailable(err))
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, path.Base(k))
	}
	sort.Strings(out)
	return out, nil
}

// MaxListLimit bounds one page of ListDevices.
const MaxListLimit = 1000

// ListDevices returns up to limit devices whose ID sorts after `after`,
// optionally only those in one state, and the cursor of the next page (""
// when no device is left; a last page may come back empty). It reads the
// index, never the device directory: the shard list of each state, the
// shards the page spans, and the page's records (loaded in parallel), each
// checked against the index entry that named it.
func (s *Store) ListDevices(ctx context.Context, state DeviceState, after string, limit int) ([]*Device, string, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	states := IndexedStates
	if state != "" {
		if !knownState(state) {
			return nil, "", nil
		}
		states = []DeviceState{state}
	}
	shardSet := map[string]bool{}
	for _, st := range states {
		names, err := s.listNames(ctx, stateIndexDir(st))
		if err != nil {
			return nil, "", err
		}
		for _, n := range names {
			shardSet[n] = true
		}
	}
	shards := make([]string, 0, len(shardSet))
	for sh := range shardSet {
		if after == "" || sh >= shardOf(after) {
			shards = append(shards, sh)
		}
	}
	sort.Strings(shards)
	var out []*Device
	for si, sh := range shards {
		idSet := map[string]bool{}
		for _, st := range states {
			names, err := s.listNames(ctx, stateIndexDir(st)+"/"+sh)
			if err != nil {
				return nil, "", err
			}
			for _, n := range names {
				if n > after && ValidDeviceID(n) {
					idSet[n] = true
				}
			}
		}
		ids := make([]string, 0, len(idSet))
		for id := range idSet {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for len(ids) > 0 {
			batch := ids[:min(len(ids), limit-len(out))]
			ids = ids[len(batch):]
			devs, err := s.loadDevices(ctx, batch)
			if err != nil {
				return nil, "", err
			}
			for _, d := range devs {
				if d != nil && (state == "" || d.State == state) {
					out = append(out, d)
				}
			}
			if len(out) == limit {
				last := batch[len(batch)-1]
				if len(ids) == 0 && si == len(shards)-1 {
					last = ""
				}
				return out, last, nil
			}
		}
	}
	return out, "", nil
}

// loadDevices reads records in parallel; a missing one is nil.
func (s *Store) loadDevices(ctx context.Context, ids []string) ([]*Device, error) {
	out := make([]*Device, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(pageLoadWorkers, len(ids)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d, err := s.Device(ctx, ids[i])
				if errors.Is(err, ErrNotFound) {
					continue
				}
				out[i], errs[i] = d, err
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, errors.Join(errs...)
}

// DeviceStateCounts counts the devices of each indexed state from the
// index, reading no record: one listing of each state's shards, then one
// count per shard (a pipelined ZCARD each with Redis through KeyCounter, a
// listing of the shard otherwise).
func (s *Store) DeviceStateCounts(ctx context.Context) (map[DeviceState]int, error) {
	out := make(map[DeviceState]int, len(IndexedStates))
	for _, st := range IndexedStates {
		shards, err := s.listNames(ctx, stateIndexDir(st))
		if err != nil {
			return nil, err
		}
		dirs := make([]string, len(shards))
		for i, sh := range shards {
			dirs[i] = stateIndexDir(st) + "/" + sh
		}
		if s.counter != nil {
			counts, err := s.counter.CountKeys(ctx, dirs)
			if err != nil {
				return nil, fmt.Errorf("counting %s devices: %w", st, unavailable(err))
			}
			for _, n := range counts {
				out[st] += n
			}
			continue
		}
		for _, dir := range dirs {
			names, err := s.listNames(ctx, dir)
			if err != nil {
				return nil, err
			}
			out[st] += len(names)
		}
	}
	return out, nil
}

// EnsureIndex builds the device index once for records stored before it
// existed (it reads every record, once, then writes a marker); with the
// marker present it costs one read. Nodes may run it at the same time: the
// entries they write are the same.
func (s *Store) EnsureIndex(ctx context.Context) (indexed int, err error) {
	var marker struct {
		Version int `json:"version"`
	}
	if found, err := s.loadJSON(ctx, indexMarkerKey, &marker); err != nil {
		return 0, err
	} else if found && marker.Version >= indexVersion {
		return 0, nil
	}
	ids, err := s.listNames(ctx, devicesPrefix)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if !ValidDeviceID(id) {
			continue
		}
		d, err := s.Device(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return indexed, err
		}
		if knownState(d.State) {
			if err := s.storage.Store(ctx, stateIndexKey(d.State, id), []byte("1")); err != nil {
				return indexed, unavailable(err)
			}
			indexed++
		}
	}
	marker.Version = indexVersion
	return indexed, s.storeJSON(ctx, indexMarkerKey, marker)
}
