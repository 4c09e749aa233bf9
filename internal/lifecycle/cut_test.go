package lifecycle

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// secondQueueWriteFails lets one queue write through, then fails them.
type secondQueueWriteFails struct {
	certmagic.Storage
	writes int
}

func (f *secondQueueWriteFails) Store(ctx context.Context, key string, value []byte) error {
	if strings.HasSuffix(key, "/queue.json") {
		if f.writes++; f.writes > 1 {
			return errors.New("storage down")
		}
	}
	return f.Storage.Store(ctx, key, value)
}

// TestRetireCutShortLeavesNothingDeliverable: a retirement whose queue
// write fails leaves no canceled command both finished and still queued to
// be sent.
func TestRetireCutShortLeavesNothingDeliverable(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	st := store.New(&secondQueueWriteFails{Storage: store.NewMemory()})
	if err := st.PutDevice(ctx, &store.Device{DeviceID: id, State: store.StateEnrolled}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutQueue(ctx, id, &store.Queue{Commands: []*store.Command{{ID: "c1", DeviceID: id, State: store.CommandQueued}}}); err != nil {
		t.Fatal(err)
	}
	s := &Service{Store: st, Now: func() time.Time { return now }}
	if _, err := s.Retire(ctx, id, Retired("stolen")); err == nil {
		t.Fatal("the failing queue write was not reported")
	}
	q, err := st.Queue(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.FinishedCommand(ctx, id, "c1")
	for _, c := range q.Commands {
		if c.ID == "c1" && !c.Done() && err == nil {
			t.Fatalf("c1 is finished and still %s in the queue", c.State)
		}
	}
}
