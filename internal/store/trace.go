package store

import (
	"context"
	"fmt"
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

// Bounds of a device's trace: each body is cut to MaxTraceBody bytes and
// the whole trace kept under MaxTraceBytes, dropping the oldest exchanges,
// so that a trace (rewritten at each exchange) stays small whatever a
// device sends.
const (
	MaxTraceBody  = 32 << 10
	MaxTraceBytes = 512 << 10
)

// AppendTrace adds an exchange to a device's trace, keeping the last keep
// within MaxTraceBytes.
func (s *Store) AppendTrace(ctx context.Context, id string, ex Exchange, keep int) error {
	unlock := s.LockDevice(id)
	defer unlock()
	return s.AppendTraceLocked(ctx, id, ex, keep)
}

// AppendTraceLocked is AppendTrace for a caller that holds the device lock
// (an OMA-DM exchange records itself before it lets go of the device).
func (s *Store) AppendTraceLocked(ctx context.Context, id string, ex Exchange, keep int) error {
	t, err := s.Trace(ctx, id)
	if err != nil {
		return err
	}
	ex.Request, ex.Response = cutBody(ex.Request), cutBody(ex.Response)
	t.Exchanges = append(t.Exchanges, ex)
	if n := len(t.Exchanges); n > keep {
		t.Exchanges = t.Exchanges[n-keep:]
	}
	size := 0
	for i := len(t.Exchanges) - 1; i >= 0; i-- {
		size += len(t.Exchanges[i].Request) + len(t.Exchanges[i].Response)
		if size > MaxTraceBytes {
			t.Exchanges = t.Exchanges[i+1:]
			break
		}
	}
	t.Exchanges = append([]Exchange(nil), t.Exchanges...)
	return s.storeJSON(ctx, traceKey(id), t)
}

// cutBody shortens a traced body to MaxTraceBody bytes, saying so.
func cutBody(b string) string {
	if len(b) <= MaxTraceBody {
		return b
	}
	cut := MaxTraceBody
	for cut > 0 && b[cut]&0xC0 == 0x80 {
		cut--
	}
	return b[:cut] + fmt.Sprintf("\n…[cut: %d bytes in all]", len(b))
}

// Trace returns a device's trace (empty when none was kept).
func (s *Store) Trace(ctx context.Context, id string) (*Trace, error) {
	t := &Trace{Exchanges: []Exchange{}}
	if _, err := s.loadJSON(ctx, traceKey(id), t); err != nil {
		return nil, err
	}
	return t, nil
}
