package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"
)

// countingStorage counts the writes that reach a storage, and their bytes.
type countingStorage struct {
	certmagic.Storage
	stores, bytes int
}

func (c *countingStorage) Store(ctx context.Context, key string, value []byte) error {
	c.stores++
	c.bytes += len(value)
	return c.Storage.Store(ctx, key, value)
}

// TestTraceWritesOneExchange: recording an exchange writes that exchange
// and the small head, whatever the trace already holds, and the trace
// reads back in order with the oldest beyond keep gone (and their keys).
func TestTraceWritesOneExchange(t *testing.T) {
	storages(t, func(t *testing.T, _ *Store, raw certmagic.Storage) {
		cs := &countingStorage{Storage: raw}
		s := New(cs)
		ctx := context.Background()
		body := strings.Repeat("b", 4000)
		for i := range 25 {
			cs.stores, cs.bytes = 0, 0
			if err := s.AppendTrace(ctx, "DEV1", Exchange{Kind: "management", Request: fmt.Sprint(i), Response: body}, 10); err != nil {
				t.Fatal(err)
			}
			if cs.stores != 2 || cs.bytes > 4600 {
				t.Fatalf("exchange %d: %d writes, %d bytes; want the exchange and the head", i, cs.stores, cs.bytes)
			}
		}
		tr, err := s.Trace(ctx, "DEV1")
		if err != nil || len(tr.Exchanges) != 10 || tr.Exchanges[0].Request != "15" || tr.Exchanges[9].Request != "24" {
			t.Fatalf("trace: %v %d exchanges %+v", err, len(tr.Exchanges), tr)
		}
		keys, _ := raw.List(ctx, traceDir("DEV1"), false)
		if len(keys) != 11 {
			t.Errorf("%d trace keys, want 10 slots and the head: %v", len(keys), keys)
		}
		// A smaller keep starts a new ring and leaves no old slot behind.
		if err := s.AppendTrace(ctx, "DEV1", Exchange{Kind: "management", Request: "new"}, 3); err != nil {
			t.Fatal(err)
		}
		tr, _ = s.Trace(ctx, "DEV1")
		keys, _ = raw.List(ctx, traceDir("DEV1"), false)
		if len(tr.Exchanges) != 1 || tr.Exchanges[0].Request != "new" || len(keys) != 2 {
			t.Errorf("after keep 3: %+v, keys %v", tr.Exchanges, keys)
		}
	})
}

// TestTraceByteBound: big exchanges push the oldest out (their keys
// deleted) to stay within MaxTraceBytes.
func TestTraceByteBound(t *testing.T) {
	storages(t, func(t *testing.T, s *Store, raw certmagic.Storage) {
		ctx := context.Background()
		big := strings.Repeat("x", MaxTraceBody-10)
		for i := range 30 {
			if err := s.AppendTrace(ctx, "DEV1", Exchange{Request: big, Response: big + fmt.Sprint(i)}, 100); err != nil {
				t.Fatal(err)
			}
		}
		keys, _ := raw.List(ctx, traceDir("DEV1"), false)
		stored := 0
		for _, k := range keys {
			b, _ := raw.Load(ctx, k)
			stored += len(b)
		}
		tr, _ := s.Trace(ctx, "DEV1")
		if len(tr.Exchanges) != len(keys)-1 || stored > MaxTraceBytes+64<<10 {
			t.Fatalf("%d exchanges, %d keys, %d bytes stored", len(tr.Exchanges), len(keys), stored)
		}
		if last := tr.Exchanges[len(tr.Exchanges)-1].Response; !strings.HasSuffix(last, "29") {
			t.Errorf("newest exchange lost: ...%s", last[len(last)-10:])
		}
	})
}

// TestTraceLegacyAndTornWrite: a trace of the one-key layout is read until
// the first write removes it; a slot written without its head (a writer
// that stopped in between) is not shown in place of the one the head names.
func TestTraceLegacyAndTornWrite(t *testing.T) {
	storages(t, func(t *testing.T, s *Store, raw certmagic.Storage) {
		ctx := context.Background()
		if err := s.storeJSON(ctx, legacyTraceKey("DEV1"), Trace{Exchanges: []Exchange{{Request: "old"}}}); err != nil {
			t.Fatal(err)
		}
		if tr, err := s.Trace(ctx, "DEV1"); err != nil || len(tr.Exchanges) != 1 || tr.Exchanges[0].Request != "old" {
			t.Fatalf("legacy trace: %v %+v", err, tr)
		}
		for i := range 3 {
			if err := s.AppendTrace(ctx, "DEV1", Exchange{Request: fmt.Sprint(i)}, 2); err != nil {
				t.Fatal(err)
			}
		}
		if raw.Exists(ctx, legacyTraceKey("DEV1")) {
			t.Error("legacy trace kept after the first write")
		}
		// Slot of sequence 3 written, head not: the reader keeps 1 and 2.
		if err := s.storeJSON(ctx, traceSlotKey("DEV1", 1), traceSlot{Seq: 3, Exchange: Exchange{Request: "torn"}}); err != nil {
			t.Fatal(err)
		}
		tr, err := s.Trace(ctx, "DEV1")
		if err != nil || len(tr.Exchanges) != 1 || tr.Exchanges[0].Request != "2" {
			t.Fatalf("torn write: %v %+v", err, tr)
		}
	})
}
