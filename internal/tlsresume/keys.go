package tlsresume

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"
)

// KeyPeriod is how long one ticket key encrypts new tickets. Tickets stay
// readable for KeptKeys periods after that, so a ticket lives at most
// (KeptKeys+1) periods. Keys are random and deleted once out of use, so a
// key read from storage opens only the tickets of those few periods: for a
// resumed TLS 1.2 session the ticket key is what protects its traffic.
const KeyPeriod = 12 * time.Hour

// KeptKeys is how many earlier periods' keys still decrypt tickets.
const KeptKeys = 3

// MaxSessionAge bounds a session from its full handshake, however many
// times it was resumed (and its ticket renewed) since: after that the
// device makes a full handshake, with new secrets.
const MaxSessionAge = (KeptKeys + 1) * KeyPeriod

// dropWindow is how many periods older than the kept ones each rotation
// deletes, so that keys left by nodes that were all down for up to a week
// are deleted too.
const dropWindow = 14

// KeySize is the size of a stored period key.
const KeySize = 32

// KeyStore keeps the ticket key of each period where every node reads it.
type KeyStore interface {
	// PeriodKey returns the key of period. With create, a random one is
	// made (once, for every node) when there is none; without, a missing
	// key is fs.ErrNotExist.
	PeriodKey(ctx context.Context, period int64, create bool) ([]byte, error)
	// DropPeriodKey deletes the key of period; a missing key is no error.
	DropPeriodKey(ctx context.Context, period int64) error
}

// Keys holds the ticket keys a node uses now: the current period's (which
// encrypts), the next one's (made in advance, so that every node has it
// when the period turns, whatever its clock) and those of the KeptKeys
// periods before.
type Keys struct {
	store KeyStore
	now   func() time.Time

	rotating sync.Mutex
	holder   atomic.Pointer[tls.Config] // holds only the ticket keys
	period   atomic.Int64
}

// NewKeys returns keys kept in store; now is the clock (nil: time.Now).
// Rotate before use.
func NewKeys(store KeyStore, now func() time.Time) *Keys {
	if now == nil {
		now = time.Now
	}
	return &Keys{store: store, now: now}
}

// Period is the key period t falls in.
func Period(t time.Time) int64 { return t.Unix() / int64(KeyPeriod/time.Second) }

// Due reports whether the period has turned since the last rotation.
func (k *Keys) Due() bool {
	return k.current() == nil || Period(k.now()) != k.period.Load()
}

// Rotate loads the keys of the current period, creating this period's and
// the next one's when missing, and deletes older ones. Until it succeeds
// the keys already loaded stay in use, for MaxStalePeriods at most (stale).
func (k *Keys) Rotate(ctx context.Context) error {
	k.rotating.Lock()
	defer k.rotating.Unlock()
	p := Period(k.now())
	keys := make([][32]byte, 0, KeptKeys+2)
	for _, q := range []int64{p, p + 1} {
		b, err := k.store.PeriodKey(ctx, q, true)
		if err != nil {
			return fmt.Errorf("ticket key of period %d: %w", q, err)
		}
		if len(b) != KeySize {
			return fmt.Errorf("ticket key of period %d: %d bytes, want %d", q, len(b), KeySize)
		}
		keys = append(keys, [32]byte(b))
	}
	// Older keys only read tickets: one that cannot be read is skipped
	// (its tickets give full handshakes), and reported.
	var errs []error
	for q := p - 1; q >= p-KeptKeys; q-- {
		b, err := k.store.PeriodKey(ctx, q, false)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			errs = append(errs, fmt.Errorf("ticket key of period %d: %w", q, err))
		case len(b) != KeySize:
			errs = append(errs, fmt.Errorf("ticket key of period %d: %d bytes, want %d", q, len(b), KeySize))
		default:
			keys = append(keys, [32]byte(b))
		}
	}
	holder := new(tls.Config)
	holder.SetSessionTicketKeys(keys)
	k.holder.Store(holder)
	k.period.Store(p)

	for q := p - KeptKeys - 1; q >= p-KeptKeys-dropWindow; q-- {
		if err := k.store.DropPeriodKey(ctx, q); err != nil {
			errs = append(errs, fmt.Errorf("deleting the ticket key of period %d: %w", q, err))
		}
	}
	return errors.Join(errs...)
}

// current is the holder of the keys in use (nil before the first
// rotation).
func (k *Keys) current() *tls.Config { return k.holder.Load() }

// MaxStalePeriods is how many periods after the last successful rotation
// its keys stay in use. A node whose storage is down keeps resuming
// sessions through the next period (its key was made a period ahead, and
// peers that rotated still read the tickets), then stops: keys kept longer
// would encrypt, and open, tickets for longer than KeptKeys+1 periods.
const MaxStalePeriods = 1

// stale reports whether the keys in use are too old to use: the rotations
// since the last successful one have failed for more than MaxStalePeriods.
func (k *Keys) stale() bool {
	return Period(k.now())-k.period.Load() > MaxStalePeriods
}

// unusable encrypts the tickets of a node whose keys are stale: a random
// key no one stores or decrypts with, so those tickets never resume.
var unusable = sync.OnceValue(func() *tls.Config {
	var key [32]byte
	_, _ = rand.Read(key[:]) // never fails (it crashes the program instead, Go 1.24+)
	c := new(tls.Config)
	c.SetSessionTicketKeys([][32]byte{key})
	return c
})
