package store

// The storage suite runs against caddy-storage-redis, the module a cluster
// uses, over a real redis-server this test starts on a free port. Only the
// tests import the module (it imports Caddy); the store itself sees a
// certmagic.Storage.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	storageredis "github.com/pberkel/caddy-storage-redis"

	"github.com/caddy-mdm/caddy-mdm/internal/testredis"
)

var (
	redisOnce   sync.Once
	redisServer *testredis.Server
	redisErr    error
	redisPrefix atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if redisServer != nil {
		redisServer.Stop()
		os.RemoveAll(redisServer.Dir)
	}
	os.Exit(code)
}

// redisStorage returns a fresh caddy-storage-redis storage (its own key
// prefix) on the shared redis-server, started at first use. Without
// redis-server on PATH the test is skipped, unless MDM_REQUIRE_TOOLS=1.
func redisStorage(t *testing.T) certmagic.Storage { return redisStorageTB(t) }

func redisStorageTB(t testing.TB) certmagic.Storage {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server is not installed (Debian: apt-get install redis-server): the Redis backend of the storage suite is not run"
		if os.Getenv("MDM_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	redisOnce.Do(func() {
		dir, err := os.MkdirTemp("", "store-redis")
		if err != nil {
			redisErr = err
			return
		}
		redisServer, redisErr = testredis.Start(bin, dir)
	})
	if redisErr != nil {
		t.Fatal(redisErr)
	}
	return newRedisStorage(t, redisServer.Port, fmt.Sprintf("suite%d", redisPrefix.Add(1)))
}

func newRedisStorage(t testing.TB, port int, prefix string) certmagic.Storage {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	rs := storageredis.New()
	rs.Host = []string{"127.0.0.1"}
	rs.Port = []string{fmt.Sprint(port)}
	rs.KeyPrefix = prefix
	if err := rs.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Cleanup() })
	return rs
}

// BenchmarkDeviceLock measures what a message pays for its device lock:
// in process only (file storage), and cluster-wide on Redis (uncontended).
//
//	go test -run '^$' -bench DeviceLock ./internal/store
func BenchmarkDeviceLock(b *testing.B) {
	for _, tc := range []struct {
		name string
		mk   func(testing.TB) certmagic.Storage
	}{
		{"local", func(testing.TB) certmagic.Storage { return &certmagic.FileStorage{Path: b.TempDir()} }},
		{"redis", redisStorageTB},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := New(tc.mk(b))
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				u, err := s.LockDeviceCtx(ctx, "DEV1")
				if err != nil {
					b.Fatal(err)
				}
				u()
			}
		})
	}
}
