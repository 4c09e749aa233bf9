package omadm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// queueWriteFails fails writes of the device queue once armed, after
// letting skip of them through: a storage that goes down, or a process
// killed, between a command's finished record and the queue.
type queueWriteFails struct {
	certmagic.Storage
	armed bool
	skip  int
}

func (f *queueWriteFails) Store(ctx context.Context, key string, value []byte) error {
	if f.armed && strings.HasSuffix(key, "/queue.json") {
		if f.skip == 0 {
			return errors.New("storage down")
		}
		f.skip--
	}
	return f.Storage.Store(ctx, key, value)
}

// listed counts how often each command ID is listed.
func listed(t *testing.T, h *harness) map[string]int {
	t.Helper()
	cs, err := h.srv.Commands(context.Background(), deviceA)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, c := range cs {
		n[c.ID]++
	}
	return n
}

// TestAcknowledgedNotResentAfterCutSave: a save that wrote a command's
// acknowledgement but not the queue does not make the next session send
// the command again, and the listing shows it once, acknowledged.
func TestAcknowledgedNotResentAfterCutSave(t *testing.T) {
	st := &queueWriteFails{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	h := newHarness(t, AuthEither, st)
	h.enroll(deviceA)
	get := h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}})
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	cmdID := sentCommands(m)[0].CmdID

	st.armed = true
	_, err := h.srv.Handle(context.Background(), Request{Body: msg(deviceA, "1", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", cmdID, "Get", 200), true),
		PeerCertificates: h.sendCert(deviceA), ServerURL: serverURL})
	st.armed = false
	if err == nil {
		t.Fatal("the failing queue write was not reported")
	}
	if n := listed(t, h); n[get.ID] != 1 {
		t.Errorf("listed %d times", n[get.ID])
	}

	_, m = h.send(deviceA, msg(deviceA, "2", 1, "", session1Alert, true))
	if sent := sentCommands(m); len(sent) != 0 {
		t.Fatalf("an acknowledged command was sent again: %+v", sent)
	}
	if q, _ := h.srv.Store.Queue(context.Background(), deviceA); len(q.Commands) != 0 {
		t.Errorf("queue still holds %d commands", len(q.Commands))
	}
	if c := h.commands(deviceA)[get.ID]; c.State != store.CommandAcknowledged || c.Status != 200 {
		t.Errorf("command %+v", c)
	}
}

// TestCanceledNotSentAfterCutSave: an admin's cancel cut short (the queue
// write failing after the finished record) never delivers the command, and
// the next session finishes the cancel.
func TestCanceledNotSentAfterCutSave(t *testing.T) {
	for skip := range 2 {
		t.Run(fmt.Sprint("queue writes before the failure: ", skip), func(t *testing.T) {
			st := &queueWriteFails{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
			h := newHarness(t, AuthEither, st)
			h.enroll(deviceA)
			c := h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}})
			st.armed, st.skip = true, skip
			if _, err := h.srv.Cancel(context.Background(), deviceA, c.ID, "changed my mind"); err == nil {
				t.Fatal("the failing queue write was not reported")
			}
			st.armed = false
			if n := listed(t, h); n[c.ID] != 1 {
				t.Errorf("listed %d times", n[c.ID])
			}
			_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
			sent := sentCommands(m)
			if skip == 1 && len(sent) != 0 {
				t.Fatalf("a canceled command was sent: %+v", sent)
			}
			if skip == 0 {
				// Nothing was written: the cancel did not happen.
				return
			}
			if q, _ := h.srv.Store.Queue(context.Background(), deviceA); len(q.Commands) != 0 {
				t.Errorf("queue still holds %d commands", len(q.Commands))
			}
			if got, err := h.srv.Store.FinishedCommand(context.Background(), deviceA, c.ID); err != nil || got.State != store.CommandCanceled {
				t.Errorf("finished record %+v %v", got, err)
			}
		})
	}
}

// TestFinishedCommandsPruned: a device keeps at most
// store.MaxFinishedCommands finished commands, the oldest dropped when a
// session finishes more.
func TestFinishedCommandsPruned(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	ctx := context.Background()
	old := time.Now().Add(-time.Hour)
	for i := range store.MaxFinishedCommands {
		c := &store.Command{ID: fmt.Sprintf("%013x%08x", old.UnixMilli()+int64(i), i), DeviceID: deviceA, State: store.CommandAcknowledged,
			Spec: store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}}, CreatedAt: old}
		if err := h.srv.Store.PutCommand(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	get := h.enqueue(deviceA, store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}})
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	h.send(deviceA, msg(deviceA, "1", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", sentCommands(m)[0].CmdID, "Get", 200), true))
	ids, err := h.srv.Store.FinishedIDs(ctx, deviceA)
	if err != nil || len(ids) != store.MaxFinishedCommands || !ids[get.ID] || ids[fmt.Sprintf("%013x%08x", old.UnixMilli(), 0)] {
		t.Fatalf("%d finished kept (the new one: %v), %v", len(ids), ids[get.ID], err)
	}
	cs, _ := h.srv.Commands(ctx, deviceA)
	if len(cs) != store.MaxFinishedCommands {
		t.Errorf("listing %d commands", len(cs))
	}
}
