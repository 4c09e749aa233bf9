package enroll

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"strings"
	"sync"
	"time"
)

// Defaults of the cache of successful password checks.
const (
	DefaultPassCacheTTL  = 5 * time.Minute
	DefaultPassCacheSize = 10000
)

// passCache remembers successful password checks for a short while, so that
// the RequestSecurityToken following a GetPolicies with the same
// UsernameToken costs no second hash.
//
// It holds no password and no user name: an entry is only an
// HMAC-SHA256, under a key drawn at random when the cache is made and never
// stored, of the lower-cased user name and the password, each prefixed with
// its length (so no two pairs share an input). Without the key a MAC cannot
// even be tested against guesses. Only successes are added.
//
// Checks of one pair that arrive while its first check is hashing wait for
// that check (running) instead of hashing too: a fleet enrolling with one
// account would otherwise hash once per device until the first success is
// remembered. A waiter whose leader failed hashes on its own, so a wrong
// password is never answered from another request's check.
//
// Its memory is bounded: at most size entries, the oldest evicted first;
// expired ones are dropped. All entries live for the same ttl, so insertion
// order is expiry order. At most size checks are led at once; more hash
// without leading.
type passCache struct {
	ttl  time.Duration
	size int
	now  func() time.Time

	mu      sync.Mutex
	mac     hash.Hash
	entries map[[sha256.Size]byte]*list.Element // of *passEntry
	order   list.List                           // front: newest
	running map[[sha256.Size]byte]chan struct{} // closed when the check ends
}

type passEntry struct {
	key     [sha256.Size]byte
	expires time.Time
}

// newPassCache returns an empty cache with a fresh random key; now nil is
// time.Now.
func newPassCache(ttl time.Duration, size int, now func() time.Time) *passCache {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("enroll: no randomness for the password cache key: " + err.Error())
	}
	if now == nil {
		now = time.Now
	}
	return &passCache{
		ttl: ttl, size: max(size, 1), now: now,
		mac:     hmac.New(sha256.New, key),
		entries: map[[sha256.Size]byte]*list.Element{},
		running: map[[sha256.Size]byte]chan struct{}{},
	}
}

// keyOf is the MAC of (lower-cased user, password); the caller holds mu.
func (c *passCache) keyOf(user, password string) (k [sha256.Size]byte) {
	var n [8]byte
	c.mac.Reset()
	for _, f := range []string{strings.ToLower(user), password} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		c.mac.Write(n[:])
		c.mac.Write([]byte(f))
	}
	c.mac.Sum(k[:0])
	return k
}

// hit reports whether (user, password) succeeded within the ttl.
func (c *passCache) hit(user, password string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.dropExpired(now)
	el, ok := c.entries[c.keyOf(user, password)]
	return ok && now.Before(el.Value.(*passEntry).expires)
}

// lookup is hit for (user, password). On a miss, either another check of
// the pair is running (wait is closed when it ends: look up again), or the
// caller leads the check and must call finish when it ends, after add on a
// success. Both are nil when more than size checks are led already.
func (c *passCache) lookup(user, password string) (hit bool, wait <-chan struct{}, finish func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.dropExpired(now)
	k := c.keyOf(user, password)
	if el, ok := c.entries[k]; ok && now.Before(el.Value.(*passEntry).expires) {
		return true, nil, nil
	}
	if ch, ok := c.running[k]; ok {
		return false, ch, nil
	}
	if len(c.running) >= c.size {
		return false, nil, nil
	}
	ch := make(chan struct{})
	c.running[k] = ch
	return false, nil, func() {
		c.mu.Lock()
		delete(c.running, k)
		c.mu.Unlock()
		close(ch)
	}
}

// add remembers a successful check of (user, password).
func (c *passCache) add(user, password string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.dropExpired(now)
	k := c.keyOf(user, password)
	if el, ok := c.entries[k]; ok {
		c.order.Remove(el)
		delete(c.entries, k)
	}
	for c.order.Len() >= c.size {
		c.remove(c.order.Back())
	}
	c.entries[k] = c.order.PushFront(&passEntry{key: k, expires: now.Add(c.ttl)})
}

// dropExpired removes the expired entries, oldest first.
func (c *passCache) dropExpired(now time.Time) {
	for el := c.order.Back(); el != nil && !now.Before(el.Value.(*passEntry).expires); el = c.order.Back() {
		c.remove(el)
	}
}

func (c *passCache) remove(el *list.Element) {
	delete(c.entries, el.Value.(*passEntry).key)
	c.order.Remove(el)
}

// len is the number of entries held, expired ones included.
func (c *passCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
