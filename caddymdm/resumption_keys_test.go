package caddymdm

import (
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-mdm/caddy-mdm/internal/tlsresume"
)

// flakyKeyStore keeps period keys in memory and fails while down.
type flakyKeyStore struct {
	mu   sync.Mutex
	down bool
	keys map[int64][]byte
}

func (s *flakyKeyStore) PeriodKey(_ context.Context, period int64, create bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, errors.New("storage down")
	}
	if k, ok := s.keys[period]; ok || !create {
		if !ok {
			return nil, fs.ErrNotExist
		}
		return k, nil
	}
	k := make([]byte, tlsresume.KeySize)
	_, _ = rand.Read(k)
	s.keys[period] = k
	return k, nil
}

func (s *flakyKeyStore) DropPeriodKey(context.Context, int64) error { return nil }

// TestTicketKeyRotationLogs: a storage outage at rotation is one error
// line, its retries debug lines, its end an info line.
func TestTicketKeyRotationLogs(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	a := &App{logger: zap.New(core), deviceTLS: new(deviceTLS)}
	now := time.Now()
	clock := func() time.Time { return now }
	store := &flakyKeyStore{keys: map[int64][]byte{}}
	keys := tlsresume.NewKeys(store, clock)
	ctx := context.Background()
	if err := keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}

	store.down = true
	now = now.Add(tlsresume.KeyPeriod)
	for range 3 {
		a.rotateTicketKeys(ctx, keys)
	}
	store.down = false
	a.rotateTicketKeys(ctx, keys)
	a.rotateTicketKeys(ctx, keys) // not due: nothing

	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Level.String()+": "+e.Message)
	}
	want := []zapcore.Level{zap.ErrorLevel, zap.DebugLevel, zap.DebugLevel, zap.InfoLevel}
	if len(got) != len(want) {
		t.Fatalf("log lines %q", got)
	}
	for i, e := range logs.All() {
		if e.Level != want[i] {
			t.Errorf("line %d: %q, want level %v", i, got[i], want[i])
		}
	}
	if m := logs.All()[0].Message; !strings.Contains(m, "devices stop resuming") {
		t.Errorf("the error does not say what it means for devices: %q", m)
	}
}
