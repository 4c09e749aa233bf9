package enroll

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// failureLimiter bounds how often password checks may fail per key (a user
// name or a client address): burst failures, then one more per interval.
// Only failures spend the budget. A running check holds one failure of it
// until it ends (it may fail), so parallel guesses cannot overdraw it: a
// check is let through only while the budget has a failure left beyond
// those the running checks hold. PasswordAuth admits a check only once it
// holds a hashing slot (a few per core), so checks of other accounts
// queued behind the slots hold nothing, and concurrent checks of one
// account with the right password wait for the first one (passcache.go)
// instead of running.
//
// Its memory is bounded: at most maxKeys keys, the least recently used
// evicted first, and a key whose budget has fully refilled (as good as
// unknown) is dropped.
type failureLimiter struct {
	every   time.Duration
	burst   int
	maxKeys int

	mu        sync.Mutex
	keys      map[string]*list.Element // of *failureEntry
	lru       list.List                // front: most recently used
	lastSweep time.Time
}

type failureEntry struct {
	key      string
	lim      *rate.Limiter
	inFlight int
}

// evictScan bounds how many least recently used entries an insertion into
// a full table looks at for a refilled one before evicting the oldest.
const evictScan = 64

func newFailureLimiter(burst int, every time.Duration, maxKeys int) *failureLimiter {
	return &failureLimiter{every: every, burst: burst, maxKeys: max(maxKeys, 1), keys: map[string]*list.Element{}}
}

// acquire reports whether key has a failure left in its budget at now; if
// so, the caller's check is in flight until release.
func (l *failureLimiter) acquire(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	el := l.keys[key]
	if el == nil {
		for l.lru.Len() >= l.maxKeys {
			l.evict(now)
		}
		el = l.lru.PushFront(&failureEntry{key: key, lim: rate.NewLimiter(rate.Every(l.every), l.burst)})
		l.keys[key] = el
	} else {
		l.lru.MoveToFront(el)
	}
	e := el.Value.(*failureEntry)
	if !e.hasFailureLeft(now) {
		return false
	}
	e.inFlight++
	return true
}

// allows reports whether key has a failure left at now, counting only
// the failures spent (not those running checks hold), holding nothing: a
// refusal before waiting for a hashing slot; acquire decides once the
// check holds one.
func (l *failureLimiter) allows(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.keys[key]
	return el == nil || el.Value.(*failureEntry).lim.TokensAt(now) >= 1
}

// hasFailureLeft: the budget holds a failure beyond those running checks
// may still spend.
func (e *failureEntry) hasFailureLeft(now time.Time) bool {
	return e.lim.TokensAt(now)-float64(e.inFlight) >= 1
}

// release ends a check acquire let through; a failed one spends a failure.
func (l *failureLimiter) release(key string, failed bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.keys[key]
	if el == nil {
		return // evicted meanwhile
	}
	e := el.Value.(*failureEntry)
	if e.inFlight > 0 {
		e.inFlight--
	}
	if failed {
		e.lim.ReserveN(now, 1)
	} else if l.refilled(e, now) {
		l.remove(el)
	}
}

// len is the number of keys held.
func (l *failureLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

func (l *failureLimiter) refilled(e *failureEntry, now time.Time) bool {
	return e.inFlight == 0 && e.lim.TokensAt(now) >= float64(l.burst)
}

func (l *failureLimiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*failureEntry).key)
	l.lru.Remove(el)
}

// evict makes room for one key: a refilled entry among the least recently
// used ones, or else the least recently used one with no check running (a
// running check's failure must not be lost; running checks are bounded by
// the hashing slots, far fewer than maxKeys).
func (l *failureLimiter) evict(now time.Time) {
	el := l.lru.Back()
	for i := 0; el != nil && i < evictScan; i++ {
		if l.refilled(el.Value.(*failureEntry), now) {
			l.remove(el)
			return
		}
		el = el.Prev()
	}
	for el := l.lru.Back(); el != nil; el = el.Prev() {
		if el.Value.(*failureEntry).inFlight == 0 {
			l.remove(el)
			return
		}
	}
	l.remove(l.lru.Back())
}

// sweep drops every refilled entry, at most once per interval.
func (l *failureLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.every && !now.Before(l.lastSweep) {
		return
	}
	l.lastSweep = now
	for el := l.lru.Back(); el != nil; {
		prev := el.Prev()
		if l.refilled(el.Value.(*failureEntry), now) {
			l.remove(el)
		}
		el = prev
	}
}
