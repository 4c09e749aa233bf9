package enroll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// clock is an injected time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)} }

func fail(l *failureLimiter, key string, now time.Time) bool {
	if !l.acquire(key, now) {
		return false
	}
	l.release(key, true, now)
	return true
}

func TestFailureLimiterBudget(t *testing.T) {
	c := newClock()
	l := newFailureLimiter(3, time.Minute, 100)
	for i := range 3 {
		if !fail(l, "alice", c.now()) {
			t.Fatalf("failure %d refused within the burst", i+1)
		}
	}
	if l.acquire("alice", c.now()) {
		t.Fatal("fourth check admitted after three failures")
	}
	if !l.acquire("bob", c.now()) {
		t.Fatal("another key is limited too")
	}
	l.release("bob", false, c.now())
	c.add(59 * time.Second)
	if l.acquire("alice", c.now()) {
		t.Fatal("admitted before one interval passed")
	}
	c.add(time.Second)
	if !fail(l, "alice", c.now()) {
		t.Fatal("not admitted after one interval")
	}
	if l.acquire("alice", c.now()) {
		t.Fatal("one interval refills one failure only")
	}
}

func TestFailureLimiterSuccessIsFree(t *testing.T) {
	c := newClock()
	l := newFailureLimiter(2, time.Minute, 100)
	for range 50 {
		if !l.acquire("alice", c.now()) {
			t.Fatal("successes spent the failure budget")
		}
		l.release("alice", false, c.now())
	}
	if l.len() != 0 {
		t.Errorf("%d keys kept after successes only; a full budget needs no entry", l.len())
	}
}

// TestFailureLimiterRunningChecksHoldBudget: a running check holds one
// failure of the budget until it ends, so parallel checks cannot overdraw
// it; a success gives its failure back.
func TestFailureLimiterRunningChecksHoldBudget(t *testing.T) {
	c := newClock()
	l := newFailureLimiter(2, time.Minute, 100)
	for i := range 2 {
		if !l.acquire("k", c.now()) {
			t.Fatalf("check %d refused with nothing failed yet", i+1)
		}
	}
	if l.acquire("k", c.now()) {
		t.Fatal("a third check let through while two hold the budget of two")
	}
	l.release("k", false, c.now())
	l.release("k", false, c.now())
	for range 2 {
		if !l.acquire("k", c.now()) {
			t.Fatal("successes spent the budget")
		}
	}
	l.release("k", true, c.now())
	l.release("k", true, c.now())
	if l.acquire("k", c.now()) || l.allows("k", c.now()) {
		t.Fatal("a check admitted after the budget of two failures was spent")
	}
}

// TestPasswordAuthParallelGuesses: wrong passwords sent all at once get no
// more hashes than the failure budget allows (they used to be admitted
// together and all hashed), while right passwords of many accounts from
// one client at once are not refused for each other.
func TestPasswordAuthParallelGuesses(t *testing.T) {
	users := map[string][]byte{}
	for i := range 10 {
		h, err := bcrypt.GenerateFromPassword([]byte(fmt.Sprint("pw", i)), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		users[fmt.Sprint("user", i)] = h
	}
	fake, err := DummyBcryptHash(users["user0"])
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingCompare{}
	a := NewPasswordAuth(users, cc.compare, fake)
	slots := cap(a.hashing)
	a.LimitFailures(FailureLimits{PerUserBurst: 5, PerUserEvery: time.Hour, PerClientBurst: 100, PerClientEvery: time.Hour})
	a.CachePasswords(5*time.Minute, 100, nil)
	var wg sync.WaitGroup
	var limited atomic.Int32
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Authenticate(context.Background(), Credentials{Username: "user0", Password: fmt.Sprint("guess", i), RemoteAddr: "192.0.2.9:1"})
			if IsRateLimited(err) {
				limited.Add(1)
			} else if err == nil {
				t.Error("a guess succeeded")
			}
		}()
	}
	wg.Wait()
	if cc.calls > 5 || limited.Load() != int32(100-cc.calls) {
		t.Errorf("100 parallel guesses: %d hashed, %d rate-limited; want at most 5 hashed and the rest limited", cc.calls, limited.Load())
	}

	// Ten accounts signing in at once from one address whose budget is
	// only as large as the hashing slots: checks waiting for a slot hold
	// nothing, so none is refused.
	b := NewPasswordAuth(users, bcryptCompare, fake)
	b.LimitFailures(FailureLimits{PerClientBurst: slots, PerClientEvery: time.Hour})
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Authenticate(context.Background(), Credentials{Username: fmt.Sprint("user", i), Password: fmt.Sprint("pw", i), RemoteAddr: "192.0.2.10:1"}); err != nil {
				t.Errorf("user%d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

// TestClientKeyIPv6Prefix: IPv6 clients share the budget of their /64.
func TestClientKeyIPv6Prefix(t *testing.T) {
	for addr, want := range map[string]string{
		"[2001:db8:1:2:aaaa::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::7]:1":   "2001:db8:1:2::/64",
		"192.0.2.1:5000":             "192.0.2.1",
		"[::ffff:192.0.2.1]:5000":    "::ffff:192.0.2.1",
		"unix":                       "unix",
	} {
		if got := clientKey(addr); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestFailureLimiterBounded(t *testing.T) {
	c := newClock()
	l := newFailureLimiter(1, time.Minute, 10)
	for i := range 1000 {
		fail(l, fmt.Sprint("user", i), c.now())
		if l.len() > 10 {
			t.Fatalf("%d keys, bound 10", l.len())
		}
	}
	// The ten most recent are limited; the oldest were evicted.
	if l.acquire("user999", c.now()) {
		t.Error("most recent key forgotten")
	}
	// Refilled entries are dropped once their budget is whole again.
	c.add(2 * time.Minute)
	if !l.acquire("new", c.now()) {
		t.Fatal("new key refused")
	}
	l.release("new", false, c.now())
	if l.len() != 0 {
		t.Errorf("%d keys kept after every budget refilled", l.len())
	}
}

// countingCompare is bcrypt's comparison, counted.
type countingCompare struct {
	mu     sync.Mutex
	calls  int
	hashes [][]byte
}

func (c *countingCompare) compare(hash, pw []byte) (bool, error) {
	c.mu.Lock()
	c.calls++
	c.hashes = append(c.hashes, hash)
	c.mu.Unlock()
	return bcryptCompare(hash, pw)
}

func TestPasswordAuthRateLimit(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	cc := &countingCompare{}
	users := captureUsers(t)
	fake, err := DummyBcryptHash(users["demio"])
	if err != nil {
		t.Fatal(err)
	}
	a := NewPasswordAuth(users, cc.compare, fake)
	a.LimitFailures(FailureLimits{PerUserBurst: 3, PerUserEvery: time.Minute, PerClientBurst: 5, PerClientEvery: time.Minute, MaxKeys: 100, Now: c.now})
	try := func(user, pw, addr string) error {
		_, err := a.Authenticate(ctx, Credentials{Username: user, Password: pw, RemoteAddr: addr})
		return err
	}

	// Successes spend nothing.
	for range 10 {
		if err := try("demio", "demo", "192.0.2.1:5000"); err != nil {
			t.Fatal(err)
		}
	}
	// Three failures for demio, in any case, from two clients.
	for i, addr := range []string{"192.0.2.1:5000", "192.0.2.1:5001", "192.0.2.2:5000"} {
		if err := try([]string{"demio", "DEMIO", "Demio"}[i], "wrong", addr); err == nil || IsRateLimited(err) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	calls := cc.calls
	// Now even the right password is refused, before any hash is computed.
	err = try("demio", "demo", "192.0.2.3:1")
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.By != "user" || rl.User != "demio" || rl.RemoteAddr != "192.0.2.3" {
		t.Fatalf("after three failures: %v", err)
	}
	if cc.calls != calls {
		t.Error("a rate-limited request computed a hash")
	}
	if f := authFault(err); f.Message == "" || !strings.Contains(f.Error(), "rate-limited") {
		t.Errorf("fault %v", f)
	}
	// Another user is not limited.
	if err := try("demo@mdmwindows.com", "demo", "192.0.2.3:1"); err != nil {
		t.Fatalf("other user: %v", err)
	}
	// A minute later demio has one attempt again.
	c.add(time.Minute)
	if err := try("demio", "demo", "192.0.2.3:1"); err != nil {
		t.Fatalf("after a minute: %v", err)
	}

	// Per client: five failures from 198.51.100.7 over any user names,
	// known or not, and that client is refused for every user.
	for i := range 5 {
		if err := try(fmt.Sprint("nobody", i), "x", "198.51.100.7:1"); err == nil || IsRateLimited(err) {
			t.Fatalf("client failure %d: %v", i+1, err)
		}
	}
	if err := try("demo@mdmwindows.com", "demo", "198.51.100.7:2"); !errors.As(err, &rl) || rl.By != "client" {
		t.Fatalf("limited client: %v", err)
	}
	if err := try("demo@mdmwindows.com", "demo", "198.51.100.8:2"); err != nil {
		t.Fatalf("another client: %v", err)
	}
	// Unknown users were compared with the dummy hash.
	for _, h := range cc.hashes[len(cc.hashes)-6 : len(cc.hashes)-1] {
		if string(h) != string(fake) {
			t.Errorf("unknown user compared with %q, not the dummy hash", h)
		}
	}
}

// TestDummyHashCost: an unknown user's refusal costs what a known user's
// does, because the dummy hash has the configured hashes' cost.
func TestDummyHashCost(t *testing.T) {
	h5, _ := bcrypt.GenerateFromPassword([]byte("a"), 5)
	h6, _ := bcrypt.GenerateFromPassword([]byte("b"), 6)
	fake, err := DummyBcryptHash(h5, h6, []byte("not a hash"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost(fake); err != nil || c != 6 {
		t.Errorf("dummy hash cost %d (%v), want 6, the highest configured", c, err)
	}
	if fake2, _ := DummyBcryptHash(h5, h6); string(fake2) == string(fake) {
		t.Error("dummy hash is not random")
	}
	a := NewPasswordAuth(map[string][]byte{"u": h5}, bcryptCompare, fake)
	if string(a.DummyHash()) != string(fake) {
		t.Error("DummyHash")
	}
}

// TestPanickingCompareReleasesBudget: a comparison that panics (recovered
// by net/http) still ends its check: the budget it held is released, as a
// failure, not held for good.
func TestPanickingCompareReleasesBudget(t *testing.T) {
	users := captureUsers(t)
	fake, err := DummyBcryptHash(users["demio"])
	if err != nil {
		t.Fatal(err)
	}
	panics := true
	a := NewPasswordAuth(users, func(hash, pw []byte) (bool, error) {
		if panics {
			panic("compare")
		}
		return bcryptCompare(hash, pw)
	}, fake)
	c := newClock()
	a.LimitFailures(FailureLimits{PerUserBurst: 2, PerUserEvery: time.Minute, Now: c.now})
	for range 2 {
		func() {
			defer func() { _ = recover() }()
			_, _ = a.Authenticate(context.Background(), Credentials{Username: "demio", Password: "x"})
		}()
	}
	panics = false
	// Two failures spent, none held: a minute later one attempt is back.
	c.add(time.Minute)
	if _, err := a.Authenticate(context.Background(), Credentials{Username: "demio", Password: "demo"}); err != nil {
		t.Fatalf("after two panicking checks and a minute: %v", err)
	}
}
