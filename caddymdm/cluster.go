package caddymdm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/caddyserver/certmagic"
	storageredis "github.com/pberkel/caddy-storage-redis"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Cluster wiring: the store runs over whatever certmagic.Storage Caddy (or
// the mdm app's own `storage`) provides. Two things are added here, where
// Caddy's modules are known:
//
//   - over caddy-storage-redis, the store counts index keys with ZCARD
//     (store.KeyCounter) instead of listing them;
//   - each node writes a heartbeat (store.Heartbeat) while it runs, so other
//     nodes can tell its live sessions from a dead node's.

// redisCounting is a Redis storage that also counts the keys of its
// directories (caddy-storage-redis keeps each directory as a sorted set of
// its children under the prefixed directory key, so one ZCARD counts it),
// and that tells a missing key from a failed read (Load).
type redisCounting struct {
	certmagic.Storage
	client redis.UniversalClient
	prefix string
}

// CountKeys implements store.KeyCounter: one pipelined ZCARD per directory.
func (r redisCounting) CountKeys(ctx context.Context, dirs []string) ([]int, error) {
	pipe := r.client.Pipeline()
	cmds := make([]*redis.IntCmd, len(dirs))
	for i, d := range dirs {
		cmds[i] = pipe.ZCard(ctx, path.Join(r.prefix, d))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]int, len(dirs))
	for i, c := range cmds {
		out[i] = int(c.Val())
	}
	return out, nil
}

// Load implements certmagic.Storage. caddy-storage-redis v1.8.1 answers
// fs.ErrNotExist for any failed GET, a dead connection included; taken at
// its word during an outage, a queue would read as empty and an existing
// device as unknown. So a "not found" is confirmed with EXISTS: if Redis
// cannot answer, the load failed (ErrUnavailable upstream); if the key is
// there after all, it is loaded again.
func (r redisCounting) Load(ctx context.Context, key string) ([]byte, error) {
	b, err := r.Storage.Load(ctx, key)
	if !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	n, xerr := r.client.Exists(ctx, path.Join(r.prefix, key)).Result()
	if xerr != nil {
		return nil, fmt.Errorf("loading %s: %w", key, xerr)
	}
	if n > 0 {
		return r.Storage.Load(ctx, key)
	}
	return nil, err
}

// clusterStorage adds what the store can use of a known storage module.
func clusterStorage(s certmagic.Storage) certmagic.Storage {
	rs, ok := s.(*storageredis.RedisStorage)
	if !ok {
		return s
	}
	client, ok := rs.GetClient().(redis.UniversalClient)
	if !ok || client == nil {
		return s
	}
	return redisCounting{Storage: s, client: client, prefix: rs.KeyPrefix}
}

// runHeartbeat announces this node (and its boot ID, which keeps its
// digest session tokens valid on the other nodes while it runs) every
// store.HeartbeatInterval until ctx ends, then removes its heartbeat. Only
// with cluster-wide locks: a node on its own file storage has nobody to
// tell.
func (a *App) runHeartbeat(ctx context.Context) {
	if !a.store.DistributedLocks() {
		return
	}
	node := a.management.NodeID
	a.logger.Info("cluster node", zap.String("node_id", node))
	t := time.NewTicker(store.HeartbeatInterval)
	defer t.Stop()
	failing := false
	for {
		err := a.management.Heartbeat(ctx, time.Now())
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			a.logger.Error("cluster heartbeat failed; storage unavailable", zap.Error(err))
			failing = true
		case err == nil && failing:
			a.logger.Info("cluster heartbeat restored")
			failing = false
		}
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = a.store.RemoveHeartbeat(rctx, node)
			cancel()
			return
		case <-t.C:
		}
	}
}

// ensureIndex builds the device index for records stored before it (once,
// see store.EnsureIndex).
func (a *App) ensureIndex(ctx context.Context) {
	n, err := a.store.EnsureIndex(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		a.logger.Error("building the device index", zap.Error(err))
	case n > 0:
		a.logger.Info("indexed devices stored before the index", zap.Int("devices", n))
	}
}

// StorageRetryAfter is the Retry-After (seconds) of a 503 answered while the
// storage is unavailable.
const StorageRetryAfter = "30"

// storageUnavailable reports whether err is the storage failing (Redis
// stopped, a device lock not obtained), which is answered with 503.
func storageUnavailable(err error) bool { return errors.Is(err, store.ErrUnavailable) }

// refuseUnavailable answers 503 with Retry-After and logs why. Nothing was
// decided: the device tries again later and the server resumes on its own
// once the storage is back.
func refuseUnavailable(w http.ResponseWriter, log *zap.Logger, what string, err error) {
	log.Error(what+" refused: storage unavailable", zap.Error(err), zap.String("retry_after", StorageRetryAfter))
	w.Header().Set("Retry-After", StorageRetryAfter)
	body := []byte("storage unavailable, try again later\n")
	writeBody(w, http.StatusServiceUnavailable, "text/plain; charset=utf-8", body, true)
}
