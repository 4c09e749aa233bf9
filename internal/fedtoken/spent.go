package fedtoken

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// ErrSpent refuses a token that already enrolled a device.
var ErrSpent = errors.New("enrollment token already used")

// spentPrefix holds one record per spent token, named
// "<exp unix>-<sha256(jti)>": the expiry in the name lets a sweep drop
// expired records from the listing alone, and a token is found again from
// its own claims.
const spentPrefix = "mdm/tokens/spent"

// sweepEvery is how often, at most, a Spend starts a sweep of expired
// records; maxSweep bounds the records one sweep deletes.
const (
	sweepEvery = time.Hour
	maxSweep   = 10000
)

// Ledger records spent tokens in storage, so that a token enrolls once on
// whichever node of a cluster it reaches. Records outlive their token by
// the clock leeway and are then swept.
type Ledger struct {
	Storage certmagic.Storage
	// Now is the clock; nil for time.Now.
	Now func() time.Time
	// OnSweepError, if set, is told of a failed sweep.
	OnSweepError func(error)

	mu        sync.Mutex
	lastSweep time.Time
}

func (l *Ledger) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func spentKey(c Claims) string {
	sum := sha256.Sum256([]byte(c.ID))
	return fmt.Sprintf("%s/%d-%s", spentPrefix, c.Expires.Unix(), hex.EncodeToString(sum[:]))
}

// Spent reports whether the token of c was spent.
func (l *Ledger) Spent(ctx context.Context, c Claims) (bool, error) {
	_, err := l.Storage.Load(ctx, spentKey(c))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("reading the spent-token record: %w", err)
	}
}

// Spend records the token of c as spent, or returns ErrSpent when it was.
// The check and the record happen under the storage's lock for the token,
// so of two requests with one token on any nodes, one wins.
func (l *Ledger) Spend(ctx context.Context, c Claims) error {
	key := spentKey(c)
	lock := "mdm_token_" + key[len(spentPrefix)+1:]
	if err := l.Storage.Lock(ctx, lock); err != nil {
		return fmt.Errorf("locking the spent-token record: %w", err)
	}
	defer func() { _ = l.Storage.Unlock(context.WithoutCancel(ctx), lock) }()
	spent, err := l.Spent(ctx, c)
	if err != nil {
		return err
	}
	if spent {
		return ErrSpent
	}
	if err := l.Storage.Store(ctx, key, []byte(l.now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("recording the spent token: %w", err)
	}
	l.maybeSweep()
	return nil
}

// maybeSweep starts a sweep in the background when the last one is older
// than sweepEvery. It ends by itself; nothing waits for it.
func (l *Ledger) maybeSweep() {
	l.mu.Lock()
	now := l.now()
	if now.Sub(l.lastSweep) < sweepEvery {
		l.mu.Unlock()
		return
	}
	l.lastSweep = now
	l.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := l.Sweep(ctx); err != nil && l.OnSweepError != nil {
			l.OnSweepError(err)
		}
	}()
}

// Sweep deletes the records of tokens expired (beyond the leeway) and
// returns how many it deleted, at most maxSweep.
func (l *Ledger) Sweep(ctx context.Context) (int, error) {
	keys, err := l.Storage.List(ctx, spentPrefix, false)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	cutoff := l.now().Add(-leeway).Unix()
	n := 0
	for _, k := range keys {
		if n >= maxSweep {
			break
		}
		name := k[strings.LastIndex(k, "/")+1:]
		exp, _, ok := strings.Cut(name, "-")
		t, err := strconv.ParseInt(exp, 10, 64)
		if !ok || err != nil || t >= cutoff {
			continue
		}
		if err := l.Storage.Delete(ctx, k); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}
