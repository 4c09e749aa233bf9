package entra

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DefaultJWKSURL is where Microsoft publishes the keys that sign Entra ID
// tokens, v1 and v2 alike.
const DefaultJWKSURL = "https://login.microsoftonline.com/common/discovery/v2.0/keys"

// Bounds of a key set: what one fetch may read and keep.
const (
	// MaxJWKSSize bounds a JWKS document (Microsoft's is a few KiB).
	MaxJWKSSize = 256 << 10
	// MaxKeys bounds the keys kept from one document.
	MaxKeys = 64
	// minRSABits refuses keys too weak to trust.
	minRSABits = 2048
)

// Defaults of a KeySet's timing.
const (
	// DefaultRefresh is how old a key set may grow before it is fetched
	// again (Microsoft rolls keys over with weeks of notice).
	DefaultRefresh = 24 * time.Hour
	// DefaultMinRefetch is the period over which fetches caused by unknown
	// kids are counted: one kid causes at most one per period, and all
	// kids together at most MaxRefetches. A forged kid thus does not use
	// up the fetch a key Microsoft just published needs, and a flood of
	// them costs MaxRefetches fetches per period.
	DefaultMinRefetch = 5 * time.Minute
	// MaxRefetches bounds the fetches caused by unknown kids per
	// MinRefetch, whatever the kids.
	MaxRefetches = 4
	// fetchTimeout bounds one fetch.
	fetchTimeout = 15 * time.Second
)

// KeySet is a cached JSON Web Key Set: RSA signing keys by kid, fetched
// from a URL or read from a file, refreshed when older than Refresh and
// refetched when a token names an unknown kid: once per kid per
// MinRefetch, and at most MaxRefetches times per MinRefetch in all. A
// failed refresh keeps the keys it had.
type KeySet struct {
	source string
	load   func(ctx context.Context) ([]byte, error)

	// Refresh and MinRefetch default to DefaultRefresh and
	// DefaultMinRefetch; set them before first use.
	Refresh, MinRefetch time.Duration
	// Now is the clock; nil for time.Now.
	Now func() time.Time

	// fetching serializes fetches, so a burst of tokens with an unknown kid
	// causes one fetch, not one each.
	fetching sync.Mutex

	mu        sync.RWMutex
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time
	// refetches are the times of the fetches unknown kids caused within
	// the last MinRefetch; triedKids the kids that caused one, and when.
	refetches []time.Time
	triedKids map[string]time.Time
	// failedAt and lastErr: after a failed fetch, none is tried again for
	// MinRefetch (the cached keys, if any, keep being served), so that a
	// slow or unreachable key endpoint does not make every request wait
	// for a fetch of its own.
	failedAt time.Time
	lastErr  error
}

// NewURLKeySet returns a key set fetched over HTTPS with client (nil for a
// client with a 15 s timeout).
func NewURLKeySet(url string, client *http.Client) *KeySet {
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	return &KeySet{source: url, load: func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return readBounded(resp.Body)
	}}
}

// NewFileKeySet returns a key set read from a JWKS file, for sites that
// cannot reach Microsoft (and for tests); the file is read again on the
// same schedule as a URL, so a replaced file takes effect.
func NewFileKeySet(path string) *KeySet {
	return &KeySet{source: path, load: func(context.Context) ([]byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readBounded(f)
	}}
}

// NewStaticKeySet returns a key set over a fixed JWKS document (tests).
func NewStaticKeySet(jwks []byte) *KeySet {
	return &KeySet{source: "static", load: func(context.Context) ([]byte, error) { return jwks, nil }}
}

// NewFuncKeySet returns a key set whose document load returns (a
// configuration's own source, tests).
func NewFuncKeySet(name string, load func(ctx context.Context) ([]byte, error)) *KeySet {
	return &KeySet{source: name, load: load}
}

// Source names where the keys come from, for logs.
func (k *KeySet) Source() string { return k.source }

func readBounded(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxJWKSSize {
		return nil, fmt.Errorf("key set larger than %d bytes", MaxJWKSSize)
	}
	return b, nil
}

func (k *KeySet) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *KeySet) refreshEvery() time.Duration {
	if k.Refresh > 0 {
		return k.Refresh
	}
	return DefaultRefresh
}

func (k *KeySet) minRefetch() time.Duration {
	if k.MinRefetch > 0 {
		return k.MinRefetch
	}
	return DefaultMinRefetch
}

// ErrUnknownKey is returned for a kid that is not in the key set, even
// after the refetch it allowed.
var ErrUnknownKey = errors.New("no signing key with this kid")

// Key returns the RSA public key of kid: from the cache when it is fresh,
// after a fetch when the cache is empty or older than Refresh, and after
// a refetch when kid is unknown, unless this kid caused one in the last
// MinRefetch or MaxRefetches happened in it.
func (k *KeySet) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k.mu.RLock()
	key, stale := k.keys[kid], k.keys == nil || k.now().Sub(k.fetchedAt) >= k.refreshEvery()
	k.mu.RUnlock()
	fetched := false
	if stale {
		if err := k.fetch(ctx, ""); err != nil {
			k.mu.RLock()
			empty := k.keys == nil
			k.mu.RUnlock()
			if empty {
				return nil, fmt.Errorf("fetching signing keys from %s: %v", k.source, err)
			}
			// Keep serving the keys we had.
		} else {
			fetched = true
		}
		k.mu.RLock()
		key = k.keys[kid]
		k.mu.RUnlock()
	}
	if key != nil {
		return key, nil
	}
	if fetched {
		// The set was fetched for this very call: fetching again now
		// would only read the same document.
		return nil, ErrUnknownKey
	}
	if err := k.fetch(ctx, kid); err != nil && !errors.Is(err, errRefetchTooSoon) {
		return nil, fmt.Errorf("kid %q unknown and refetching signing keys from %s failed: %v", kid, k.source, err)
	}
	k.mu.RLock()
	key = k.keys[kid]
	k.mu.RUnlock()
	if key == nil {
		return nil, ErrUnknownKey
	}
	return key, nil
}

var errRefetchTooSoon = errors.New("refetched recently")

// fetch loads the set: a refresh when kid is "", else a refetch for the
// unknown kid, within its budget (refetchAllowed). A refresh happens only
// when the set is still stale once the fetch lock is held, and a refetch
// only when kid is still unknown then (another caller may just have
// fetched it).
func (k *KeySet) fetch(ctx context.Context, kid string) error {
	k.fetching.Lock()
	defer k.fetching.Unlock()
	now := k.now()
	unknownKid := kid != ""
	k.mu.RLock()
	fresh := k.keys != nil && now.Sub(k.fetchedAt) < k.refreshEvery()
	known := k.keys[kid] != nil
	failedRecently := !k.failedAt.IsZero() && now.Sub(k.failedAt) < k.minRefetch()
	lastErr := k.lastErr
	k.mu.RUnlock()
	if unknownKid && known || !unknownKid && fresh {
		return nil
	}
	if unknownKid && !k.refetchAllowed(kid, now) {
		return errRefetchTooSoon
	}
	if failedRecently {
		return fmt.Errorf("%w (not retried for %s)", lastErr, k.minRefetch())
	}
	// The fetch outlives the request that caused it: a client hanging up
	// must not spend the refetch budget on a canceled fetch.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	raw, err := k.load(ctx)
	var keys map[string]*rsa.PublicKey
	if err == nil {
		keys, err = ParseJWKS(raw)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.failedAt, k.lastErr = now, err
		return err
	}
	if unknownKid {
		k.refetched(kid, now)
	}
	k.keys, k.fetchedAt, k.failedAt, k.lastErr = keys, now, time.Time{}, nil
	return nil
}

// refetchAllowed reports whether an unknown kid may cause a fetch now:
// not if this kid caused one within MinRefetch, nor if MaxRefetches did.
// The caller holds k.fetching.
func (k *KeySet) refetchAllowed(kid string, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	window := k.minRefetch()
	if t, ok := k.triedKids[kid]; ok && now.Sub(t) < window {
		return false
	}
	recent := k.refetches[:0]
	for _, t := range k.refetches {
		if now.Sub(t) < window {
			recent = append(recent, t)
		}
	}
	k.refetches = recent
	return len(recent) < MaxRefetches
}

// refetched records a fetch kid caused and forgets kids older than
// MinRefetch: with at most MaxRefetches per MinRefetch, that many kids are
// remembered at most. The caller holds k.mu.
func (k *KeySet) refetched(kid string, now time.Time) {
	k.refetches = append(k.refetches, now)
	if k.triedKids == nil {
		k.triedKids = map[string]time.Time{}
	}
	for id, t := range k.triedKids {
		if now.Sub(t) >= k.minRefetch() {
			delete(k.triedKids, id)
		}
	}
	k.triedKids[kid] = now
}

// ParseJWKS reads the RSA signing keys of a JWKS document: keys whose use
// is "sig" (or unset), whose alg is RS256 (or unset), with a kid and at
// least 2048 bits; others are skipped, as is any key that does not parse,
// so one odd entry does not lose the set. At most MaxKeys are kept; a
// document with no usable key is an error.
func ParseJWKS(raw []byte) (map[string]*rsa.PublicKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("key set is not a JWKS document: %v", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, rk := range doc.Keys {
		if len(keys) == MaxKeys {
			break
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(rk); err != nil {
			continue
		}
		pub, ok := jwk.Key.(*rsa.PublicKey)
		if !ok || jwk.KeyID == "" || (jwk.Use != "" && jwk.Use != "sig") ||
			(jwk.Algorithm != "" && jwk.Algorithm != string(jose.RS256)) || pub.N.BitLen() < minRSABits {
			continue
		}
		keys[jwk.KeyID] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("key set has no RSA signing key")
	}
	return keys, nil
}
