package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCountCacheWalksAtMostOncePerMaxAge(t *testing.T) {
	cache := &CountCache{MaxAge: time.Minute}
	walks := 0
	walk := func(now time.Time) func(context.Context) (*DeviceCounts, error) {
		return func(context.Context) (*DeviceCounts, error) {
			walks++
			return &DeviceCounts{AsOf: now, Total: walks}, nil
		}
	}
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		now       time.Time
		wantWalks int
	}{
		{t0, 1},
		{t0.Add(59 * time.Second), 1},
		{t0.Add(time.Minute), 2},
		{t0.Add(-time.Hour), 3}, // a clock stepped back does not pin old counts
	} {
		c, err := cache.Get(context.Background(), tc.now, walk(tc.now))
		if err != nil {
			t.Fatal(err)
		}
		if walks != tc.wantWalks || c.Total != walks {
			t.Fatalf("step %d: %d walks (counts of walk %d), want %d", i, walks, c.Total, tc.wantWalks)
		}
	}
	failed := errors.New("storage down")
	if _, err := cache.Get(context.Background(), t0.Add(time.Hour), func(context.Context) (*DeviceCounts, error) { return nil, failed }); !errors.Is(err, failed) {
		t.Fatalf("a failed walk: %v", err)
	}
}
