package enroll

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// cachedAuth is a PasswordAuth over the capture's users (password "demo")
// with a counted comparison, a five-minute cache and a per-user failure
// limit of burst, all on clock c.
func cachedAuth(t *testing.T, c *clock, size, burst int) (*PasswordAuth, *countingCompare, *[]PasswordCheck) {
	t.Helper()
	cc := &countingCompare{}
	users := captureUsers(t)
	fake, err := DummyBcryptHash(users["demio"])
	if err != nil {
		t.Fatal(err)
	}
	a := NewPasswordAuth(users, cc.compare, fake)
	a.LimitFailures(FailureLimits{PerUserBurst: burst, PerUserEvery: time.Hour, Now: c.now})
	a.CachePasswords(5*time.Minute, size, c.now)
	var reports []PasswordCheck
	a.ReportChecks(func(pc PasswordCheck) { reports = append(reports, pc) })
	return a, cc, &reports
}

func TestPasswordCacheHit(t *testing.T) {
	c := newClock()
	a, cc, reports := cachedAuth(t, c, 100, 5)
	try := func(user, pw string) error {
		got, err := a.Authenticate(context.Background(), Credentials{Username: user, Password: pw, RemoteAddr: "192.0.2.1:1"})
		if err == nil && got != user {
			t.Errorf("user %q, want %q", got, user)
		}
		return err
	}
	// GetPolicies hashes, the RequestSecurityToken that follows does not,
	// whatever the case of the user name.
	if err := try("demio", "demo"); err != nil || cc.calls != 1 {
		t.Fatalf("first check: %v, %d compares", err, cc.calls)
	}
	if err := try("DEMIO", "demo"); err != nil || cc.calls != 1 {
		t.Fatalf("second check: %v, %d compares, want the cached answer", err, cc.calls)
	}
	if len(*reports) != 2 || (*reports)[0].Cached || !(*reports)[1].Cached || (*reports)[1].User != "DEMIO" {
		t.Errorf("reports %+v", *reports)
	}
	// A wrong password is hashed every time: never cached.
	for i := range 2 {
		calls := cc.calls
		if err := try("demio", "wrong"); err == nil || IsRateLimited(err) || cc.calls != calls+1 {
			t.Fatalf("wrong password %d: %v, %d compares (was %d)", i, err, cc.calls, calls)
		}
	}
	// Another password of the same user, or the same password of another
	// user (with the same hash), is no hit.
	calls := cc.calls
	if err := try("demio", "demo "); err == nil || cc.calls != calls+1 {
		t.Errorf("other password: %v, %d compares", err, cc.calls-calls)
	}
	if err := try("demo@mdmwindows.com", "demo"); err != nil || cc.calls != calls+2 {
		t.Errorf("other user: %v, %d compares", err, cc.calls-calls)
	}
	if len(*reports) != 3 {
		t.Errorf("%d reports, want one per success", len(*reports))
	}
}

// TestPasswordCacheRateLimit: a hit counts as a success for the failure
// limits (spends nothing), and a limited request is refused even with a
// cached password.
func TestPasswordCacheRateLimit(t *testing.T) {
	c := newClock()
	a, cc, _ := cachedAuth(t, c, 100, 2)
	try := func(pw string) error {
		_, err := a.Authenticate(context.Background(), Credentials{Username: "demio", Password: pw})
		return err
	}
	for range 10 {
		if err := try("demo"); err != nil {
			t.Fatal(err)
		}
	}
	if cc.calls != 1 {
		t.Errorf("%d compares for ten checks, want 1", cc.calls)
	}
	for i := range 2 {
		if err := try("wrong"); err == nil || IsRateLimited(err) {
			t.Fatalf("failure %d after hits: %v (hits spent the budget?)", i+1, err)
		}
	}
	calls := cc.calls
	if err := try("demo"); !IsRateLimited(err) || cc.calls != calls {
		t.Errorf("limited user with a cached password: %v, %d compares", err, cc.calls-calls)
	}
}

func TestPasswordCacheExpiry(t *testing.T) {
	c := newClock()
	a, cc, _ := cachedAuth(t, c, 100, 5)
	try := func() {
		t.Helper()
		if _, err := a.Authenticate(context.Background(), Credentials{Username: "demio", Password: "demo"}); err != nil {
			t.Fatal(err)
		}
	}
	try()
	c.add(5*time.Minute - time.Second)
	try()
	if cc.calls != 1 {
		t.Fatalf("%d compares within the ttl, want 1", cc.calls)
	}
	c.add(time.Second)
	try()
	if cc.calls != 2 {
		t.Fatalf("%d compares after the ttl, want 2", cc.calls)
	}
	// A hit does not extend the entry's life.
	c.add(5*time.Minute - time.Second)
	try()
	c.add(time.Second)
	try()
	if cc.calls != 3 {
		t.Errorf("%d compares, want 3", cc.calls)
	}
	// Expired entries are dropped.
	c.add(time.Hour)
	a.cache.hit("x", "y")
	if n := a.cache.len(); n != 0 {
		t.Errorf("%d entries after expiry", n)
	}
	// No cache, no hit.
	a.CachePasswords(0, 0, nil)
	try()
	try()
	if cc.calls != 5 {
		t.Errorf("%d compares without a cache, want 5", cc.calls)
	}
}

func TestPasswordCacheSize(t *testing.T) {
	c := newClock()
	pc := newPassCache(time.Minute, 3, c.now)
	for i := range 5 {
		pc.add(fmt.Sprint("user", i), "pw")
		c.add(time.Second)
	}
	if n := pc.len(); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
	for i := range 5 {
		if got, want := pc.hit(fmt.Sprint("USER", i), "pw"), i >= 2; got != want {
			t.Errorf("user%d: hit %v, want %v (the oldest evicted)", i, got, want)
		}
	}
	// Adding one already held refreshes it rather than growing.
	pc.add("user2", "pw")
	if n := pc.len(); n != 3 || !pc.hit("user3", "pw") {
		t.Errorf("re-add: %d entries", n)
	}
}

// TestPasswordCacheKeys: the cache holds 32-byte MACs under a per-cache
// random key, with no user name or password in clear, and length-prefixed
// fields keep ("ab", "c") from being ("a", "bc").
func TestPasswordCacheKeys(t *testing.T) {
	c := newClock()
	user, pw := "alice@contoso.com", "correct horse battery staple"
	p1, p2 := newPassCache(time.Minute, 10, c.now), newPassCache(time.Minute, 10, c.now)
	p1.add(user, pw)
	p2.add(user, pw)
	if len(p1.entries) != 1 {
		t.Fatalf("%d entries", len(p1.entries))
	}
	for k, el := range p1.entries {
		e := el.Value.(*passEntry)
		if e.key != k || len(k) != 32 {
			t.Errorf("entry key %x", e.key)
		}
		for _, secret := range []string{user, pw, "alice", "horse"} {
			if bytes.Contains(k[:], []byte(secret)) {
				t.Errorf("key %x holds %q", k, secret)
			}
		}
		if _, same := p2.entries[k]; same {
			t.Error("two caches computed the same key: not keyed per process")
		}
	}
	p1.mu.Lock()
	ab, a := p1.keyOf("ab", "c"), p1.keyOf("a", "bc")
	upper := p1.keyOf("ALICE@contoso.com", pw)
	p1.mu.Unlock()
	if ab == a {
		t.Error(`("ab", "c") and ("a", "bc") collide`)
	}
	if _, ok := p1.entries[upper]; !ok {
		t.Error("user names are not compared without regard to case")
	}
	if p1.hit("ab", "c") || !p1.hit(user, pw) {
		t.Error("hit")
	}
}

// gatedCompare is a counted bcrypt comparison that holds every check until
// open is closed, and says on entered when one starts.
type gatedCompare struct {
	countingCompare
	entered chan struct{}
	open    chan struct{}
}

func (g *gatedCompare) compare(hash, pw []byte) (bool, error) {
	g.entered <- struct{}{}
	<-g.open
	return g.countingCompare.compare(hash, pw)
}

// TestPasswordCacheConcurrentChecks: checks of one pair that arrive while
// its first check is hashing wait for it. A success then answers them all
// with one hash; a failure answers none of them: each hashes on its own.
func TestPasswordCacheConcurrentChecks(t *testing.T) {
	users := captureUsers(t)
	fake, err := DummyBcryptHash(users["demio"])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		password string
		compares int
	}{{"demo", 1}, {"wrong", 5}} {
		t.Run(tc.password, func(t *testing.T) {
			g := &gatedCompare{entered: make(chan struct{}, 8), open: make(chan struct{})}
			a := NewPasswordAuth(users, g.compare, fake)
			a.CachePasswords(5*time.Minute, 100, nil)
			check := func(ctx context.Context) error {
				_, err := a.Authenticate(ctx, Credentials{Username: "demio", Password: tc.password, RemoteAddr: "192.0.2.1:1"})
				return err
			}
			errs := make(chan error, 5)
			go func() { errs <- check(context.Background()) }()
			<-g.entered // the leader is hashing
			// A waiter whose request ends stops waiting, with its error.
			canceled, cancel := context.WithCancel(context.Background())
			cancel()
			if err := check(canceled); err != context.Canceled {
				t.Fatalf("canceled waiter: %v", err)
			}
			for range 4 {
				go func() { errs <- check(context.Background()) }()
			}
			close(g.open)
			for range 5 {
				err := <-errs
				if (err == nil) != (tc.password == "demo") {
					t.Errorf("check: %v", err)
				}
			}
			if g.calls != tc.compares {
				t.Errorf("%d hashes for 5 concurrent checks, want %d", g.calls, tc.compares)
			}
			if n := len(a.cache.running); n != 0 {
				t.Errorf("%d checks still marked running", n)
			}
		})
	}
}
