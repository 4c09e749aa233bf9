package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// TestSuiteStateIndex: the index follows every state change, counts come
// from it, and a stale entry (a crash between the record and the index)
// never lists a device twice or under a state it is not in.
func TestSuiteStateIndex(t *testing.T) {
	storages(t, func(t *testing.T, s *Store, raw certmagic.Storage) {
		ctx := context.Background()
		for i := range 30 {
			st := IndexedStates[i%3]
			if err := s.PutDevice(ctx, suiteDevice(fmt.Sprintf("%02X%s", i*7, "DEV"), st)); err != nil {
				t.Fatal(err)
			}
		}
		counts, err := s.DeviceStateCounts(ctx)
		if err != nil || counts[StateEnrolled] != 10 || counts[StateRetired] != 10 || counts[StateUnenrolled] != 10 {
			t.Fatalf("counts %v %v", counts, err)
		}
		// A read-modify-write moves the device between states.
		d, err := s.Device(ctx, "00DEV")
		if err != nil || d.State != StateEnrolled {
			t.Fatalf("%v %+v", err, d)
		}
		d.State = StateRetired
		if err := s.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		counts, _ = s.DeviceStateCounts(ctx)
		if counts[StateEnrolled] != 9 || counts[StateRetired] != 11 {
			t.Fatalf("after retire: %v", counts)
		}
		// A record written afresh (re-enrollment) drops every older entry.
		if err := s.PutDevice(ctx, suiteDevice("00DEV", StateEnrolled)); err != nil {
			t.Fatal(err)
		}
		counts, _ = s.DeviceStateCounts(ctx)
		if counts[StateEnrolled] != 10 || counts[StateRetired] != 10 {
			t.Fatalf("after re-enrollment: %v", counts)
		}
		// A stale entry: 07DEV (unenrolled) also indexed as enrolled.
		if err := raw.Store(ctx, stateIndexKey(StateEnrolled, "07DEV"), []byte("1")); err != nil {
			t.Fatal(err)
		}
		all := listAll(t, s, "")
		if n := countOf(all, "07DEV"); n != 1 || len(all) != 30 {
			t.Fatalf("07DEV listed %d times, %d devices", n, len(all))
		}
		for _, id := range listAll(t, s, StateEnrolled) {
			if id == "07DEV" {
				t.Fatal("07DEV listed as enrolled")
			}
		}
	})
}

func listAll(t *testing.T, s *Store, st DeviceState) []string {
	t.Helper()
	var out []string
	after := ""
	for {
		ds, next, err := s.ListDevices(context.Background(), st, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			out = append(out, d.DeviceID)
		}
		if next == "" {
			return out
		}
		after = next
	}
}

func countOf(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

// TestSuiteEnsureIndex: records stored before the index are indexed once.
func TestSuiteEnsureIndex(t *testing.T) {
	storages(t, func(t *testing.T, s *Store, raw certmagic.Storage) {
		ctx := context.Background()
		for i := range 5 {
			if err := s.storeJSON(ctx, deviceKey("OLD"+strconv.Itoa(i)), suiteDevice("OLD"+strconv.Itoa(i), StateEnrolled)); err != nil {
				t.Fatal(err)
			}
		}
		if got := listAll(t, s, ""); len(got) != 0 {
			t.Fatalf("unindexed records listed: %v", got)
		}
		if n, err := s.EnsureIndex(ctx); err != nil || n != 5 {
			t.Fatalf("EnsureIndex: %d %v", n, err)
		}
		if got := listAll(t, s, StateEnrolled); len(got) != 5 {
			t.Fatalf("after EnsureIndex: %v", got)
		}
		if n, err := s.EnsureIndex(ctx); err != nil || n != 0 {
			t.Fatalf("second EnsureIndex: %d %v", n, err)
		}
	})
}

// TestSuiteClusterLock: two stores over one storage (two nodes) exclude
// each other on a device: read-modify-writes from both never lose one.
func TestSuiteClusterLock(t *testing.T) {
	storages(t, func(t *testing.T, s1 *Store, raw certmagic.Storage) {
		if _, file := raw.(*certmagic.FileStorage); file {
			t.Skip("the file storage is one node's")
		}
		s2 := New(raw)
		ctx := context.Background()
		unlock, err := s1.LockDeviceCtx(ctx, "DEV1")
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		if u, err := s2.LockDeviceCtx(short, "DEV1"); err == nil {
			u()
			t.Fatal("node 2 took the lock node 1 holds")
		}
		cancel()
		// Another device is not held up.
		if u, err := s2.LockDeviceCtx(ctx, "DEV2"); err != nil {
			t.Fatal(err)
		} else {
			u()
		}
		unlock()

		const n = 4
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range 2 * n {
			st := []*Store{s1, s2}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				u, err := st.LockDeviceCtx(ctx, "DEV1")
				if err != nil {
					errs <- err
					return
				}
				defer u()
				inv, err := st.Inventory(ctx, "DEV1")
				if err != nil {
					errs <- err
					return
				}
				inv.Nodes["n"] = strconv.Itoa(atoiOr0(inv.Nodes["n"]) + 1)
				errs <- st.PutInventory(ctx, "DEV1", inv)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if inv, _ := s1.Inventory(ctx, "DEV1"); inv.Nodes["n"] != strconv.Itoa(2*n) {
			t.Fatalf("counter %s, want %d: an update was lost", inv.Nodes["n"], 2*n)
		}
	})
}

func atoiOr0(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestUnavailableWrapsStorageErrors: a storage failure is ErrUnavailable,
// a missing key is not.
func TestUnavailableWrapsStorageErrors(t *testing.T) {
	s := New(failingStorage{Memory: NewMemory()})
	ctx := context.Background()
	if _, err := s.Device(ctx, "DEV1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Device: %v", err)
	}
	if err := s.PutDevice(ctx, suiteDevice("DEV1", StateEnrolled)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("PutDevice: %v", err)
	}
	if _, err := s.LockDeviceCtx(ctx, "DEV1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("LockDeviceCtx: %v", err)
	}
	if _, _, err := s.ListDevices(ctx, "", "", 10); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ListDevices: %v", err)
	}
	if _, err := New(NewMemory()).Device(ctx, "DEV1"); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("missing device: %v", err)
	}
}

type failingStorage struct{ *Memory }

var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (failingStorage) Load(context.Context, string) ([]byte, error)         { return nil, errDown }
func (failingStorage) Store(context.Context, string, []byte) error          { return errDown }
func (failingStorage) Lock(context.Context, string) error                   { return errDown }
func (failingStorage) List(context.Context, string, bool) ([]string, error) { return nil, errDown }
