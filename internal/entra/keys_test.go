package entra_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/entra"
	"github.com/caddy-mdm/caddy-mdm/internal/entra/entratest"
)

// A client that hangs up right after sending a token with an unknown kid
// does not cancel the refetch, so it cannot spend the refetch budget and
// keep a rolled-over key out for MinRefetch.
func TestRefetchOutlivesACanceledRequest(t *testing.T) {
	var doc atomic.Pointer[[]byte]
	first := entratest.JWKS(testKey)
	doc.Store(&first)
	ks := entra.NewFuncKeySet("test", func(ctx context.Context) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return *doc.Load(), nil
	})
	if _, err := ks.Key(context.Background(), testKey.ID); err != nil {
		t.Fatal(err)
	}
	rolled := entratest.NewKey("rolled")
	both := entratest.JWKS(testKey, rolled)
	doc.Store(&both)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = ks.Key(canceled, "attacker-random-kid")
	if _, err := ks.Key(context.Background(), "rolled"); err != nil {
		t.Fatalf("the rolled-over key after a canceled refetch: %v", err)
	}
}

// After a failed refresh, the cached keys are served and the endpoint is
// not asked again for MinRefetch, whatever the number of requests.
func TestFailedRefreshBacksOff(t *testing.T) {
	var loads atomic.Int32
	var down atomic.Bool
	good := entratest.JWKS(testKey)
	clock := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	ks := entra.NewFuncKeySet("test", func(context.Context) ([]byte, error) {
		loads.Add(1)
		if down.Load() {
			return nil, errors.New("endpoint down")
		}
		return good, nil
	})
	ks.Now = func() time.Time { return clock }
	if _, err := ks.Key(context.Background(), testKey.ID); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	clock = clock.Add(entra.DefaultRefresh + time.Minute)
	for i := 0; i < 50; i++ {
		if _, err := ks.Key(context.Background(), testKey.ID); err != nil {
			t.Fatalf("cached key during an outage: %v", err)
		}
		_, _ = ks.Key(context.Background(), "unknown")
	}
	if n := loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2 (the first and one failed refresh)", n)
	}
	down.Store(false)
	clock = clock.Add(entra.DefaultMinRefetch + time.Second)
	if _, err := ks.Key(context.Background(), testKey.ID); err != nil || loads.Load() != 3 {
		t.Fatalf("after the back-off: %v, %d loads", err, loads.Load())
	}
}
