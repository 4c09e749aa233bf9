package store

import (
	"context"
	"time"
)

// Exchange is one request and its answer, secrets redacted, as kept in a
// device's trace.
type Exchange struct {
	At time.Time `json:"at"`
	// Kind is enrollment or management.
	Kind     string `json:"kind"`
	Status   int    `json:"status"`
	Request  string `json:"request"`
	Response string `json:"response"`
}

// Trace is the latest exchanges of a device, oldest first.
type Trace struct {
	Exchanges []Exchange `json:"exchanges"`
}

func traceKey(id string) string { return deviceDir(id) + "/trace.json" }

// AppendTrace adds an exchange to a device's trace, keeping the last keep.
func (s *Store) AppendTrace(ctx context.Context, id string, ex Exchange, keep int) error {
	unlock := s.LockDevice(id)
	defer unlock()
	t, err := s.Trace(ctx, id)
	if err != nil {
		return err
	}
	t.Exchanges = append(t.Exchanges, ex)
	if n := len(t.Exchanges); n > keep {
		t.Exchanges = append([]Exchange(nil), t.Exchanges[n-keep:]...)
	}
	return s.storeJSON(ctx, traceKey(id), t)
}

// Trace returns a device's trace (empty when none was kept).
func (s *Store) Trace(ctx context.Context, id string) (*Trace, error) {
	t := &Trace{Exchanges: []Exchange{}}
	if _, err := s.loadJSON(ctx, traceKey(id), t); err != nil {
		return nil, err
	}
	return t, nil
}
