package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

const finishedDevice = "1E08C6E95D8BB843B1278FF45BC60CC6"

func finishedCommand(i int) *Command {
	return &Command{ID: fmt.Sprintf("%013x%08x", 1000+i, i), DeviceID: finishedDevice, State: CommandAcknowledged,
		Spec: CommandSpec{Verb: "Get", Items: []ItemSpec{{Target: "./DevDetail/SwV"}}}, CreatedAt: time.Unix(int64(i), 0)}
}

// TestFinishedCommandsBounded: pruning keeps the newest
// MaxFinishedCommands, and listing reads no more than that even before.
func TestFinishedCommandsBounded(t *testing.T) {
	s := New(NewMemory())
	ctx := context.Background()
	total := MaxFinishedCommands + 7
	for i := 0; i < total; i++ {
		if err := s.PutCommand(ctx, finishedCommand(i)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.FinishedCommands(ctx, finishedDevice)
	if err != nil || len(got) != MaxFinishedCommands || got[0].ID != finishedCommand(7).ID || got[len(got)-1].ID != finishedCommand(total-1).ID {
		t.Fatalf("listing before pruning: %d commands, %v", len(got), err)
	}
	if n, err := s.PruneFinished(ctx, finishedDevice); n != 7 || err != nil {
		t.Fatalf("pruned %d, %v", n, err)
	}
	ids, err := s.FinishedIDs(ctx, finishedDevice)
	if err != nil || len(ids) != MaxFinishedCommands || ids[finishedCommand(6).ID] || !ids[finishedCommand(7).ID] {
		t.Fatalf("after pruning: %d kept, %v", len(ids), err)
	}
	if _, err := s.FinishedCommand(ctx, finishedDevice, finishedCommand(0).ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the oldest is still there: %v", err)
	}
}

// writeFailStorage fails the writes of keys with a suffix once armed,
// after letting skip of them through.
type writeFailStorage struct {
	certmagic.Storage
	suffix string
	skip   int
	armed  bool
}

func (f *writeFailStorage) Store(ctx context.Context, key string, value []byte) error {
	if f.armed && len(key) >= len(f.suffix) && key[len(key)-len(f.suffix):] == f.suffix {
		if f.skip == 0 {
			return errors.New("storage down")
		}
		f.skip--
	}
	return f.Storage.Store(ctx, key, value)
}

// TestFinishCommandsNeverBoth: whichever write fails, a command finished
// outside a session is never stored as finished while still queued to be
// sent.
func TestFinishCommandsNeverBoth(t *testing.T) {
	for _, failing := range []writeFailStorage{
		{suffix: "/queue.json"}, {suffix: "/queue.json", skip: 1}, {suffix: ".json"}, {suffix: "/" + finishedCommand(1).ID + ".json"},
	} {
		t.Run(fmt.Sprintf("%s after %d", failing.suffix, failing.skip), func(t *testing.T) {
			st := &writeFailStorage{Storage: NewMemory(), suffix: failing.suffix, skip: failing.skip}
			s := New(st)
			ctx := context.Background()
			c := finishedCommand(1)
			c.State = CommandQueued
			other := finishedCommand(2)
			other.State = CommandQueued
			if err := s.PutQueue(ctx, finishedDevice, &Queue{Commands: []*Command{c, other}}); err != nil {
				t.Fatal(err)
			}
			st.armed = true
			c.State = CommandCanceled
			if err := s.FinishCommands(ctx, finishedDevice, &Queue{Commands: []*Command{other}}, []*Command{c}); err == nil {
				t.Fatal("no error from a failing storage")
			}
			st.armed = false
			q, err := s.Queue(ctx, finishedDevice)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.FinishedCommand(ctx, finishedDevice, c.ID)
			finished := err == nil
			for _, qc := range q.Commands {
				if qc.ID == c.ID && !qc.Done() && finished {
					t.Fatal("the canceled command is finished and still queued to be sent")
				}
			}
		})
	}
}
