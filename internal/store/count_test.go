package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// countFleet stores n devices D000.. with states cycling enrolled, enrolled,
// retired, unenrolled, enrolled one day apart going back from now.
func countFleet(t *testing.T, s *Store, n int, now time.Time) {
	t.Helper()
	states := []DeviceState{StateEnrolled, StateEnrolled, StateRetired, StateUnenrolled}
	for i := 0; i < n; i++ {
		d := &Device{DeviceID: fmt.Sprintf("D%03d", i), DeviceName: fmt.Sprintf("PC-%d", i), User: fmt.Sprintf("user%d@contoso.com", i%7),
			State: states[i%len(states)], EnrolledAt: now.AddDate(0, 0, -i),
			Certificate: Certificate{NotAfter: now.Add(time.Duration(i) * 24 * time.Hour)}}
		if err := s.PutDevice(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCountDevices(t *testing.T) {
	ctx := context.Background()
	s := New(NewMemory())
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	countFleet(t, s, 100, now)
	// D000 seen 10 minutes ago, D001 two days ago; other enrolled never.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutSession(ctx, "D000", &Session{LastSeen: now.Add(-10 * time.Minute)}))
	must(s.PutSession(ctx, "D001", &Session{LastSeen: now.Add(-48 * time.Hour)}))

	c, err := s.CountDevices(ctx, now, 10*24*time.Hour, nil)
	must(err)
	if c.Total != 100 || c.ByState[StateEnrolled] != 50 || c.ByState[StateRetired] != 25 || c.ByState[StateUnenrolled] != 25 {
		t.Errorf("by state: total %d %v", c.Total, c.ByState)
	}
	// Days 0..89 back are in the chart, today last; 90..99 are older.
	sum := 0
	for _, n := range c.EnrolledPerDay {
		sum += n
	}
	if len(c.EnrolledPerDay) != FleetDays || sum != 90 || c.EnrolledPerDay[FleetDays-1] != 1 || c.EnrolledPerDay[0] != 1 {
		t.Errorf("per day: sum %d, %v", sum, c.EnrolledPerDay)
	}
	if want := []int{1, 0, 1, 0, 0, 48}; fmt.Sprint(c.LastSeen) != fmt.Sprint(want) {
		t.Errorf("last seen %v, want %v", c.LastSeen, want)
	}
	// Enrolled devices with i%4 in {0,1} and expiry within 10 days: i = 0,1,4,5,8,9.
	if c.RenewalsOpen != 6 || len(c.RenewalsDue) != 6 || c.RenewalsDue[0].DeviceID != "D000" || c.RenewalsDue[5].DeviceID != "D009" {
		t.Errorf("renewals: %d %v", c.RenewalsOpen, c.RenewalsDue)
	}
}

func TestFindDevices(t *testing.T) {
	ctx := context.Background()
	s := New(NewMemory())
	now := time.Now()
	countFleet(t, s, 30, now)

	// user3 owns D003, D010, D017, D024.
	devs, next, err := s.FindDevices(ctx, "", TextMatch("USER3@"), "", 3, 0)
	if err != nil || len(devs) != 3 || devs[0].DeviceID != "D003" || devs[2].DeviceID != "D017" || next != "D017" {
		t.Fatalf("page 1: %v %q %v", foundIDs(devs), next, err)
	}
	devs, next, err = s.FindDevices(ctx, "", TextMatch("user3@"), next, 3, 0)
	if err != nil || len(devs) != 1 || devs[0].DeviceID != "D024" || next != "" {
		t.Fatalf("page 2: %v %q %v", foundIDs(devs), next, err)
	}
	// A budget smaller than the fleet stops early with a cursor.
	devs, next, err = s.FindDevices(ctx, "", TextMatch("pc-2"), "", 10, 5)
	if err != nil || len(devs) != 1 || devs[0].DeviceID != "D002" || next != "D004" {
		t.Fatalf("budget: %v %q %v", foundIDs(devs), next, err)
	}
	// State filter and name search.
	devs, _, err = s.FindDevices(ctx, StateRetired, TextMatch("pc-1"), "", 10, 0)
	if err != nil || fmt.Sprint(foundIDs(devs)) != "[D010 D014 D018]" {
		t.Fatalf("retired pc-1*: %v %v", foundIDs(devs), err)
	}
	// An exact last match ends the listing without a next page.
	devs, next, err = s.FindDevices(ctx, "", TextMatch("D029"), "", 1, 0)
	if err != nil || len(devs) != 1 || next != "" {
		t.Fatalf("last: %v %q %v", foundIDs(devs), next, err)
	}
}

func foundIDs(devs []*Device) []string {
	var out []string
	for _, d := range devs {
		out = append(out, d.DeviceID)
	}
	return out
}

func TestSecretCreatedOnceAndShared(t *testing.T) {
	ctx := context.Background()
	mem := NewMemory()
	a, err := New(mem).Secret(ctx, "console-csrf")
	if err != nil || len(a) != 32 {
		t.Fatalf("%x %v", a, err)
	}
	// Another node (another Store over the same storage) reads the same.
	b, err := New(mem).Secret(ctx, "console-csrf")
	if err != nil || string(a) != string(b) {
		t.Fatalf("second read differs: %v", err)
	}
	if c, _ := New(mem).Secret(ctx, "other"); string(c) == string(a) {
		t.Fatal("two names share a secret")
	}
	if err := mem.Store(ctx, secretsPrefix+"bad", []byte("short")); err != nil {
		t.Fatal(err)
	}
	if _, err := New(mem).Secret(ctx, "bad"); err == nil {
		t.Fatal("damaged secret accepted")
	}
}

func TestFindLabeledDevices(t *testing.T) {
	ctx := context.Background()
	s := New(NewMemory())
	countFleet(t, s, 12, time.Now())
	for _, id := range []string{"D001", "D003", "D004", "D008", "D011"} {
		if err := s.IndexLabel(ctx, "finance", id); err != nil {
			t.Fatal(err)
		}
	}
	devs, next, err := s.FindLabeledDevices(ctx, "finance", "", nil, "", 2, 0)
	if err != nil || fmt.Sprint(foundIDs(devs)) != "[D001 D003]" || next != "D003" {
		t.Fatalf("page 1: %v %q %v", foundIDs(devs), next, err)
	}
	devs, next, err = s.FindLabeledDevices(ctx, "finance", StateEnrolled, nil, next, 2, 0)
	if err != nil || fmt.Sprint(foundIDs(devs)) != "[D004 D008]" || next != "D008" {
		t.Fatalf("page 2 (enrolled): %v %q %v", foundIDs(devs), next, err)
	}
	devs, next, err = s.FindLabeledDevices(ctx, "finance", "", nil, next, 2, 0)
	if err != nil || fmt.Sprint(foundIDs(devs)) != "[D011]" || next != "" {
		t.Fatalf("page 3: %v %q %v", foundIDs(devs), next, err)
	}
	devs, next, _ = s.FindLabeledDevices(ctx, "finance", "", TextMatch("pc-11"), "", 10, 2)
	if len(devs) != 0 || next != "D003" {
		t.Fatalf("budget: %v %q", foundIDs(devs), next)
	}
}
