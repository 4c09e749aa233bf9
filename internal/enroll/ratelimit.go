package enroll

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// failureLimiter bounds how often password checks may fail per key (a user
// name or a client address): burst failures, then one more per interval.
// Only failures spend the budget, and a check is let through while the
// budget has a failure left: concurrent checks of one account (an admin
// enrolling many devices at once) are never refused for each other. Parallel
// guesses can overdraw the budget by at most the checks running at once,
// which PasswordAuth bounds to a few per core.
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
	if e.lim.TokensAt(now) < 1 {
		return false
	}
	e.inFlight++
	return true
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
// used ones, or else the least recently used.
func (l *failureLimiter) evict(now time.Time) {
	el := l.lru.Back()
	for i := 0; el != nil && i < evictScan; i++ {
		if l.refilled(el.Value.(*failureEntry), now) {
			l.remove(el)
			return
		}
		el = el.Prev()
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
