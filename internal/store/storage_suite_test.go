package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// storages runs a case against the in-memory storage, file storage and
// Redis (caddy-storage-redis over a redis-server the test starts, see
// storage_redis_test.go): all must give the store the same behaviour.
func storages(t *testing.T, run func(t *testing.T, s *Store, raw certmagic.Storage)) {
	t.Helper()
	for name, mk := range map[string]func(t *testing.T) certmagic.Storage{
		"memory": func(*testing.T) certmagic.Storage { return NewMemory() },
		"file":   func(t *testing.T) certmagic.Storage { return &certmagic.FileStorage{Path: t.TempDir()} },
		"redis":  redisStorage,
	} {
		t.Run(name, func(t *testing.T) {
			raw := mk(t)
			run(t, New(raw), raw)
		})
	}
}

func suiteDevice(id string, state DeviceState) *Device {
	return &Device{DeviceID: id, State: state, EnrollmentType: "Full", EnrolledAt: time.Unix(1700000000, 0).UTC(),
		Certificate: Certificate{Serial: "01", Thumbprint: "TP" + id}}
}

func TestSuiteDevicePutGet(t *testing.T) {
	storages(t, func(t *testing.T, s *Store, raw certmagic.Storage) {
		ctx := context.Background()
		if _, err := s.Device(ctx, "ABSENT"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing device: %v, want ErrNotFound", err)
		}
		if _, err := s.Device(ctx, "../etc"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("invalid ID: %v, want ErrNotFound", err)
		}
		d := suiteDevice("DEV1", StateEnrolled)
		d.User = "demo@example.com"
		if err := s.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		got, err := s.Device(ctx, "DEV1")
		if err != nil || got.DeviceID != "DEV1" || got.State != StateEnrolled || got.User != "demo@example.com" ||
			got.Certificate != d.Certificate || !got.EnrolledAt.Equal(d.EnrolledAt) {
			t.Fatalf("round trip: %v %+v", err, got)
		}
		d.State = StateRetired
		if err := s.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Device(ctx, "DEV1"); got.State != StateRetired {
			t.Fatalf("overwrite: %s", got.State)
		}
		if err := s.PutDevice(ctx, &Device{DeviceID: "a/b"}); err == nil {
			t.Fatal("PutDevice accepted a device ID with a slash")
		}
		if !raw.Exists(ctx, "mdm/devices/DEV1/record.json") {
			t.Error("record not under mdm/devices/<id>/record.json")
		}
	})
}

func TestSuiteQueueAndCommands(t *testing.T) {
	storages(t, func(t *testing.T, s *Store, raw certmagic.Storage) {
		ctx := context.Background()
		q, err := s.Queue(ctx, "DEV1")
		if err != nil || q == nil || len(q.Commands) != 0 {
			t.Fatalf("missing queue: %v %+v, want empty", err, q)
		}
		q = &Queue{Commands: []*Command{
			{ID: "C1", DeviceID: "DEV1", State: CommandQueued, Spec: CommandSpec{Verb: "Get", Items: []ItemSpec{{Target: "./DevInfo/Man"}}}},
			{ID: "C2", DeviceID: "DEV1", State: CommandSent, Attempts: 1},
		}}
		if err := s.PutQueue(ctx, "DEV1", q); err != nil {
			t.Fatal(err)
		}
		got, err := s.Queue(ctx, "DEV1")
		if err != nil || len(got.Commands) != 2 || got.Commands[0].ID != "C1" || got.Commands[1].ID != "C2" ||
			got.Commands[0].Spec.Items[0].Target != "./DevInfo/Man" || got.Commands[1].State != CommandSent {
			t.Fatalf("queue round trip: %v %+v", err, got)
		}

		// Finished commands: none, then listed oldest first (ID order), whatever the write order.
		if cs, err := s.FinishedCommands(ctx, "DEV1"); err != nil || len(cs) != 0 {
			t.Fatalf("no finished commands: %v %d", err, len(cs))
		}
		if _, err := s.FinishedCommand(ctx, "DEV1", "C9"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing finished command: %v, want ErrNotFound", err)
		}
		if _, err := s.FinishedCommand(ctx, "DEV1", "../x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("invalid command ID: %v, want ErrNotFound", err)
		}
		for _, id := range []string{"0003", "0001", "0010", "0002"} {
			if err := s.PutCommand(ctx, &Command{ID: id, DeviceID: "DEV1", State: CommandAcknowledged, Status: 200}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutCommand(ctx, &Command{ID: "bad/id", DeviceID: "DEV1"}); err == nil {
			t.Error("PutCommand accepted a command ID with a slash")
		}
		cs, err := s.FinishedCommands(ctx, "DEV1")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		if strings.Join(ids, ",") != "0001,0002,0003,0010" {
			t.Fatalf("finished commands %v, want 0001,0002,0003,0010", ids)
		}
		if c, err := s.FinishedCommand(ctx, "DEV1", "0010"); err != nil || c.Status != 200 || c.State != CommandAcknowledged {
			t.Fatalf("FinishedCommand: %v %+v", err, c)
		}
		// Another device's commands are its own.
		if cs, _ := s.FinishedCommands(ctx, "DEV2"); len(cs) != 0 {
			t.Fatalf("DEV2 sees %d commands", len(cs))
		}
	})
}

func TestSuiteSession(t *testing.T) {
	storages(t, func(t *testing.T, s *Store, raw certmagic.Storage) {
		ctx := context.Background()
		if sess, err := s.Session(ctx, "DEV1"); err != nil || sess != nil {
			t.Fatalf("missing session: %v %+v, want nil, nil", err, sess)
		}
		at := time.Unix(1700000000, 0).UTC()
		in := &Session{SessionID: "7", StartedAt: at, LastSeen: at.Add(time.Minute), LastMsgID: "3", Authenticated: AuthByCertificate}
		if err := s.PutSession(ctx, "DEV1", in); err != nil {
			t.Fatal(err)
		}
		got, err := s.Session(ctx, "DEV1")
		if err != nil || got == nil || got.SessionID != "7" || got.LastMsgID != "3" || got.Authenticated != AuthByCertificate ||
			!got.StartedAt.Equal(at) || !got.LastSeen.Equal(at.Add(time.Minute)) {
			t.Fatalf("session round trip: %v %+v", err, got)
		}
		if err := s.EndSession(ctx, "DEV1"); err != nil {
			t.Fatal(err)
		}
		// Nothing continues the session; when the device was last seen stays.
		ss, err := s.DeviceSessions(ctx, "DEV1")
		if err != nil || ss.Find("7") != nil || len(ss.Sessions) != 1 {
			t.Fatalf("after EndSession: %v %+v", err, ss)
		}
		if kept := ss.Latest(); kept.SessionID != "" || !kept.Ended || !kept.LastSeen.Equal(at.Add(time.Minute)) || kept.Authenticated != AuthByCertificate {
			t.Fatalf("kept after EndSession: %+v", kept)
		}
	})
}

func TestSuiteTraceBounds(t *testing.T) {
	storages(t, func(t *testing.T, s *Store, raw certmagic.Storage) {
		ctx := context.Background()
		if tr, err := s.Trace(ctx, "DEV1"); err != nil || tr == nil || len(tr.Exchanges) != 0 {
			t.Fatalf("missing trace: %v %+v, want empty", err, tr)
		}
		for i := range 7 {
			if err := s.AppendTrace(ctx, "DEV1", Exchange{Kind: "management", Status: 200, Request: fmt.Sprintf("req%d", i)}, 3); err != nil {
				t.Fatal(err)
			}
		}
		tr, err := s.Trace(ctx, "DEV1")
		if err != nil || len(tr.Exchanges) != 3 || tr.Exchanges[0].Request != "req4" || tr.Exchanges[2].Request != "req6" {
			t.Fatalf("trace keeps the last 3: %v %+v", err, tr)
		}
		// A body over MaxTraceBody is cut; the total stays within MaxTraceBytes.
		big := strings.Repeat("x", MaxTraceBody+100)
		for range 40 {
			if err := s.AppendTrace(ctx, "DEV2", Exchange{Kind: "management", Request: big, Response: big}, 100); err != nil {
				t.Fatal(err)
			}
		}
		tr, err = s.Trace(ctx, "DEV2")
		if err != nil || len(tr.Exchanges) == 0 {
			t.Fatalf("big trace: %v", err)
		}
		total := 0
		for _, ex := range tr.Exchanges {
			if len(ex.Request) > MaxTraceBody+64 || !strings.Contains(ex.Request, "[cut:") {
				t.Fatalf("body of %d bytes not cut", len(ex.Request))
			}
			total += len(ex.Request) + len(ex.Response)
		}
		if total > MaxTraceBytes {
			t.Fatalf("trace holds %d bytes, more than %d", total, MaxTraceBytes)
		}
		if len(tr.Exchanges) >= 40 {
			t.Fatalf("trace kept all %d big exchanges", len(tr.Exchanges))
		}
	})
}

func TestSuiteIndexes(t *testing.T) {
	storages(t, func(t *testing.T, s *Store, raw certmagic.Storage) {
		ctx := context.Background()
		if _, err := s.DeviceByCertificate(ctx, "ABCDEF"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing certificate: %v, want ErrNotFound", err)
		}
		if _, err := s.DeviceByHardware(ctx, "HW1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing hardware: %v, want ErrNotFound", err)
		}
		if _, err := s.DeviceByCertificate(ctx, "../x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("invalid thumbprint: %v, want ErrNotFound", err)
		}
		if err := s.IndexCertificate(ctx, "ABCDEF", "DEV1"); err != nil {
			t.Fatal(err)
		}
		if err := s.IndexCertificate(ctx, "012345", "DEV2"); err != nil {
			t.Fatal(err)
		}
		if err := s.IndexHardware(ctx, "HW1", "DEV1"); err != nil {
			t.Fatal(err)
		}
		if id, err := s.DeviceByCertificate(ctx, "ABCDEF"); err != nil || id != "DEV1" {
			t.Fatalf("DeviceByCertificate: %q %v", id, err)
		}
		if id, err := s.DeviceByCertificate(ctx, "012345"); err != nil || id != "DEV2" {
			t.Fatalf("DeviceByCertificate: %q %v", id, err)
		}
		if id, err := s.DeviceByHardware(ctx, "HW1"); err != nil || id != "DEV1" {
			t.Fatalf("DeviceByHardware: %q %v", id, err)
		}
		// The hardware index points at the device it enrolled as last.
		if err := s.IndexHardware(ctx, "HW1", "DEV3"); err != nil {
			t.Fatal(err)
		}
		if id, _ := s.DeviceByHardware(ctx, "HW1"); id != "DEV3" {
			t.Fatalf("DeviceByHardware after re-index: %q", id)
		}
		if err := s.IndexCertificate(ctx, "a/b", "DEV1"); err == nil {
			t.Error("IndexCertificate accepted a slash")
		}
		if err := s.IndexHardware(ctx, "", "DEV1"); err == nil {
			t.Error("IndexHardware accepted an empty HWDevID")
		}
		// The indexes are no devices.
		if ds, _, err := s.ListDevices(ctx, "", "", 0); err != nil || len(ds) != 0 {
			t.Fatalf("indexes listed as devices: %v %d", err, len(ds))
		}
	})
}

// TestSuiteListDevices lists mixed states with a filter and small pages,
// following the cursor: exactly the devices in that state, in ID order,
// each once.
func TestSuiteListDevices(t *testing.T) {
	storages(t, func(t *testing.T, s *Store, raw certmagic.Storage) {
		ctx := context.Background()
		if ds, next, err := s.ListDevices(ctx, "", "", 10); err != nil || len(ds) != 0 || next != "" {
			t.Fatalf("empty store: %v %d %q", err, len(ds), next)
		}
		states := []DeviceState{StateEnrolled, StateRetired, StateUnenrolled}
		want := map[DeviceState][]string{}
		var all []string
		// Written out of order; IDs D00..D16, states cycling with a twist.
		for _, i := range []int{7, 3, 12, 0, 16, 9, 1, 14, 5, 11, 2, 8, 15, 4, 10, 6, 13} {
			id := fmt.Sprintf("D%02d", i)
			st := states[(i*i+i/3)%3]
			if err := s.PutDevice(ctx, suiteDevice(id, st)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 17 {
			id := fmt.Sprintf("D%02d", i)
			st := states[(i*i+i/3)%3]
			want[st] = append(want[st], id)
			all = append(all, id)
		}
		want[""] = all
		for _, st := range append([]DeviceState{""}, states...) {
			for _, limit := range []int{1, 2, 3, 5, 100} {
				t.Run(fmt.Sprintf("%s/%d", st, limit), func(t *testing.T) {
					var got []string
					seen := map[string]bool{}
					after := ""
					for page := 0; ; page++ {
						if page > 40 {
							t.Fatal("the cursor does not end")
						}
						ds, next, err := s.ListDevices(ctx, st, after, limit)
						if err != nil {
							t.Fatal(err)
						}
						if len(ds) > limit {
							t.Fatalf("page of %d, limit %d", len(ds), limit)
						}
						for _, d := range ds {
							if st != "" && d.State != st {
								t.Fatalf("%s listed in state %s under filter %s", d.DeviceID, d.State, st)
							}
							if seen[d.DeviceID] {
								t.Fatalf("%s listed twice", d.DeviceID)
							}
							seen[d.DeviceID] = true
							got = append(got, d.DeviceID)
						}
						if next == "" {
							break
						}
						if next <= after {
							t.Fatalf("cursor went from %q back to %q", after, next)
						}
						after = next
					}
					if strings.Join(got, ",") != strings.Join(want[st], ",") {
						t.Fatalf("listed %v, want %v", got, want[st])
					}
				})
			}
		}
		// A non-positive limit means the maximum page.
		if ds, next, err := s.ListDevices(ctx, StateRetired, "", 0); err != nil || next != "" || len(ds) != len(want[StateRetired]) {
			t.Fatalf("limit 0: %v %q %d", err, next, len(ds))
		}
		// A cursor past the end gives nothing.
		if ds, next, err := s.ListDevices(ctx, "", "D99", 5); err != nil || len(ds) != 0 || next != "" {
			t.Fatalf("past the end: %v %d %q", err, len(ds), next)
		}
	})
}
