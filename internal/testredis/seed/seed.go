// Package seed writes device records straight into Redis in
// caddy-storage-redis's layout, so that a fleet of a million devices is
// stored in seconds rather than through the API (tests and loadbench).
package seed

import (
	"context"
	"encoding/json"
	"path"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// storageData is caddy-storage-redis's value envelope (v1.8.1).
type storageData struct {
	Value       []byte    `json:"value"`
	Modified    time.Time `json:"modified"`
	Size        int64     `json:"size"`
	Compression int       `json:"compression"`
	Encryption  int       `json:"encryption"`
}

// Seed writes devices (their records and index entries, store.IndexEntries)
// under keyPrefix as caddy-storage-redis lays them out: each key a SET of
// the value envelope, each directory a sorted set of its children. It
// pipelines batch devices per round trip.
func Devices(ctx context.Context, c redis.UniversalClient, keyPrefix string, devs []*store.Device, batch int) error {
	if batch <= 0 {
		batch = 1000
	}
	now := time.Now()
	dirs := map[string]bool{}
	for start := 0; start < len(devs); start += batch {
		pipe := c.Pipeline()
		for _, d := range devs[start:min(start+batch, len(devs))] {
			entries, err := store.IndexEntries(d)
			if err != nil {
				return err
			}
			for key, val := range entries {
				b, err := json.Marshal(storageData{Value: val, Modified: now, Size: int64(len(val))})
				if err != nil {
					return err
				}
				full := path.Join(keyPrefix, key)
				pipe.Set(ctx, full, b, 0)
				base := path.Base(full)
				for dir := path.Dir(full); dir != "."; dir = path.Dir(dir) {
					member := dir + "\x00" + base
					if !dirs[member] {
						pipe.ZAdd(ctx, dir, redis.Z{Score: float64(now.Unix()), Member: base})
						if len(dirs) < 1<<20 {
							dirs[member] = true
						}
					}
					base = path.Base(dir) + "/"
				}
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}
