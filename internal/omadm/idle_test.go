package omadm

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// countingStorage counts the writes to each kind of key.
type countingStorage struct {
	*store.Memory
	mu     sync.Mutex
	writes map[string]int
}

func (c *countingStorage) Store(ctx context.Context, key string, value []byte) error {
	c.mu.Lock()
	c.writes[key[strings.LastIndexByte(key, '/')+1:]]++
	c.mu.Unlock()
	return c.Memory.Store(ctx, key, value)
}

func (c *countingStorage) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes
	c.writes = map[string]int{}
	return w
}

// TestIdlePollWritesNothing: a device polling with nothing queued and
// nothing new to report costs no storage write; when it was last seen is
// kept in memory (and shown) until FlushIdle writes it. A session that
// delivers a command writes at once, and a flush never overwrites it.
func TestIdlePollWritesNothing(t *testing.T) {
	st := &countingStorage{Memory: store.NewMemory(), writes: map[string]int{}}
	h := newHarness(t, AuthEither, st)
	h.enroll(deviceA)
	ctx := context.Background()

	// The first session reports the inventory: written.
	h.send(deviceA, capture.Read(t, "a-syncml-session1-msg1.xml"))
	st.reset()

	// The same report again, nothing queued: no write at all.
	h.send(deviceA, sessionMsgN(t, "2"))
	if w := st.reset(); len(w) != 0 {
		t.Fatalf("an idle poll wrote %v", w)
	}
	if sess, _ := h.srv.Session(ctx, deviceA); sess == nil || sess.SessionID != "2" {
		t.Fatalf("the idle session is not shown: %+v", sess)
	}
	if err := h.srv.FlushIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if w := st.reset(); w["session.json"] != 1 || len(w) != 1 {
		t.Fatalf("flush wrote %v, want the session once", w)
	}
	if stored, _ := h.srv.Store.Session(ctx, deviceA); stored == nil || stored.SessionID != "2" {
		t.Fatalf("flushed session: %+v", stored)
	}

	// Another idle poll, then a session with a command: written at once,
	// and the pending idle state is dropped, never written over it.
	h.send(deviceA, sessionMsgN(t, "3"))
	h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}})
	st.reset()
	h.send(deviceA, sessionMsgN(t, "4"))
	if w := st.reset(); w["session.json"] != 1 {
		t.Fatalf("a session delivering a command wrote %v", w)
	}
	if err := h.srv.FlushIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if stored, _ := h.srv.Store.Session(ctx, deviceA); stored == nil || stored.SessionID != "4" || len(stored.Sent) == 0 {
		t.Fatalf("the flush overwrote the delivering session: %+v", stored)
	}
}

func sessionMsgN(t *testing.T, session string) []byte {
	t.Helper()
	return []byte(strings.Replace(string(capture.Read(t, "a-syncml-session1-msg1.xml")), "<SessionID>1</SessionID>", "<SessionID>"+session+"</SessionID>", 1))
}
