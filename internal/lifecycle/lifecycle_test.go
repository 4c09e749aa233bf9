package lifecycle

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

const id = "1E08C6E95D8BB843B1278FF45BC60CC6"

func TestLeave(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	dev := &store.Device{DeviceID: id, State: store.StateEnrolled}
	queued := &store.Command{ID: "q", State: store.CommandQueued}
	sent := &store.Command{ID: "s", State: store.CommandSent}
	done := &store.Command{ID: "d", State: store.CommandAcknowledged}
	q := &store.Queue{Commands: []*store.Command{queued, sent, done}}
	canceled := Leave(dev, q, UserUnenrolled(), now, func(c *store.Command) bool { return c == done })

	if dev.State != store.StateUnenrolled || !strings.Contains(dev.StateReason, "unenrollment alert") || !dev.UpdatedAt.Equal(now) {
		t.Errorf("record: %+v", dev)
	}
	if len(canceled) != 2 || len(q.Commands) != 1 || q.Commands[0] != done {
		t.Fatalf("canceled %d, queue left %d", len(canceled), len(q.Commands))
	}
	for _, c := range canceled {
		if c.State != store.CommandCanceled || !c.DoneAt.Equal(now) {
			t.Errorf("command %s: %+v", c.ID, c)
		}
	}
	if !strings.HasPrefix(queued.Reason, "device unenrolled: ") {
		t.Errorf("queued command reason %q", queued.Reason)
	}
	if !strings.HasPrefix(sent.Reason, "sent, but the device left before answering") {
		t.Errorf("sent command reason %q: it must say the device may have it", sent.Reason)
	}
	if done.State != store.CommandAcknowledged {
		t.Error("a kept command was canceled")
	}
}

func TestServiceRetireAndReplace(t *testing.T) {
	ctx := context.Background()
	st := store.New(store.NewMemory())
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	s := &Service{Store: st, Now: func() time.Time { return now }}
	dev := &store.Device{DeviceID: id, State: store.StateEnrolled, User: "alice"}
	if err := st.PutDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	put := func(cmdID string) {
		q, _ := st.Queue(ctx, id)
		q.Commands = append(q.Commands, &store.Command{ID: cmdID, DeviceID: id, State: store.CommandQueued})
		if err := st.PutQueue(ctx, id, q); err != nil {
			t.Fatal(err)
		}
	}
	put("c1")
	if err := st.PutSession(ctx, id, &store.Session{SessionID: "1"}); err != nil {
		t.Fatal(err)
	}

	got, err := s.Retire(ctx, id, Retired("stolen"))
	if err != nil || got.State != store.StateRetired || got.StateReason != "stolen" {
		t.Fatalf("Retire: %+v %v", got, err)
	}
	if stored, _ := st.Device(ctx, id); stored.State != store.StateRetired {
		t.Error("retirement not stored")
	}
	if q, _ := st.Queue(ctx, id); len(q.Commands) != 0 {
		t.Error("queue not emptied")
	}
	if c, err := st.FinishedCommand(ctx, id, "c1"); err != nil || c.State != store.CommandCanceled || c.Reason != "device retired: stolen" {
		t.Errorf("finished command: %+v %v", c, err)
	}
	if ss, _ := st.DeviceSessions(ctx, id); ss.Find("1") != nil {
		t.Error("the session can be continued after retirement")
	} else if sess, _ := st.Session(ctx, id); sess == nil || !sess.Ended || sess.SessionID != "" {
		t.Errorf("when the device was last seen is not kept, ended: %+v", sess)
	}

	// Re-enrollment of the ID: history kept, the new queue canceled.
	put("c2")
	if err := s.ReplaceRecord(ctx, got); err != nil {
		t.Fatal(err)
	}
	if h, _ := st.History(ctx, id); len(h) != 1 || h[0].StateReason != "stolen" {
		t.Errorf("history: %d records", len(h))
	}
	if c, err := st.FinishedCommand(ctx, id, "c2"); err != nil || c.Reason != "device re-enrolled" {
		t.Errorf("command of the replaced record: %+v %v", c, err)
	}
}
