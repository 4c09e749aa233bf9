package fedtoken

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func fileStorage(t *testing.T) certmagic.Storage {
	return &certmagic.FileStorage{Path: t.TempDir()}
}

func TestLedgerSpendOnce(t *testing.T) {
	ctx := context.Background()
	st := fileStorage(t)
	now := time.Unix(1_800_000_000, 0)
	tok, _ := Mint(testSecret, "carol", 10*time.Minute, now)
	c, err := Verify(testSecret, tok, now)
	if err != nil {
		t.Fatal(err)
	}
	// Two nodes share the storage, not the Ledger value.
	a, b := &Ledger{Storage: st, Now: func() time.Time { return now }}, &Ledger{Storage: st, Now: func() time.Time { return now }}
	if spent, err := a.Spent(ctx, c); spent || err != nil {
		t.Fatalf("fresh token spent=%v %v", spent, err)
	}
	// Concurrent spends of one token on two nodes: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a
			if i%2 == 1 {
				l = b
			}
			errs[i] = l.Spend(ctx, c)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrSpent):
			t.Errorf("spend: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d spends of one token succeeded, want 1", won)
	}
	if spent, _ := b.Spent(ctx, c); !spent {
		t.Error("the other node does not see the spent token")
	}
	// Another token of the same user is not spent.
	tok2, _ := Mint(testSecret, "carol", 10*time.Minute, now)
	c2, _ := Verify(testSecret, tok2, now)
	if err := b.Spend(ctx, c2); err != nil {
		t.Errorf("second token: %v", err)
	}
}

func TestLedgerSweep(t *testing.T) {
	ctx := context.Background()
	st := fileStorage(t)
	now := time.Unix(1_800_000_000, 0)
	var clock atomic.Int64
	clock.Store(now.Unix())
	l := &Ledger{Storage: st, Now: func() time.Time { return time.Unix(clock.Load(), 0) }}
	// As if a sweep had just run: only the explicit one below runs.
	l.lastSweep = now
	old := Claims{User: "u", ID: "old", Expires: now.Add(time.Minute)}
	fresh := Claims{User: "u", ID: "fresh", Expires: now.Add(time.Hour)}
	for _, c := range []Claims{old, fresh} {
		if err := l.Spend(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	clock.Store(now.Add(10 * time.Minute).Unix())
	n, err := l.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v; want 1", n, err)
	}
	if spent, _ := l.Spent(ctx, fresh); !spent {
		t.Error("a live token's record was swept")
	}
	if spent, _ := l.Spent(ctx, old); spent {
		t.Error("an expired token's record was kept")
	}
}
