package store

import (
	"context"
	"sync"
	"time"
)

// CountCache keeps the latest fleet summary for MaxAge, so that an
// overview read again and again walks the fleet (two reads per device) at
// most once per MaxAge, whatever the number of admins looking at it; one
// walk runs at a time and the others wait for its result.
type CountCache struct {
	MaxAge time.Duration

	mu   sync.Mutex
	last *DeviceCounts
}

// Get returns the cached summary when it is younger than MaxAge, and
// otherwise computes, keeps and returns a new one.
func (c *CountCache) Get(ctx context.Context, now time.Time, compute func(context.Context) (*DeviceCounts, error)) (*DeviceCounts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && now.Sub(c.last.AsOf) < c.MaxAge && !now.Before(c.last.AsOf) {
		return c.last, nil
	}
	fresh, err := compute(ctx)
	if err != nil {
		return nil, err
	}
	c.last = fresh
	return fresh, nil
}
