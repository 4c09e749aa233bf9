package console

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

func TestNewOverview(t *testing.T) {
	since := time.Date(2026, 9, 2, 0, 0, 0, 0, time.UTC)
	c := &store.DeviceCounts{Total: 7, ByState: map[store.DeviceState]int{store.StateEnrolled: 4, store.StateRetired: 3},
		EnrolledPerDay: make([]int, store.FleetDays), Since: since, LastSeen: []int{2, 1, 0, 0, 0, 1},
		RenewalsOpen: 1, RenewalsDue: []*store.Device{{DeviceID: "D1", Certificate: store.Certificate{NotAfter: since}}}}
	c.EnrolledPerDay[0], c.EnrolledPerDay[89] = 2, 3
	v := newOverview(c)
	if len(v.States) != 3 || v.States[0] != (stateCount{store.StateEnrolled, 4}) || v.States[1].Count != 0 || v.States[2].Count != 3 {
		t.Errorf("states %v", v.States)
	}
	if v.EnrolledInWindow != 5 {
		t.Errorf("enrolled in window %d", v.EnrolledInWindow)
	}
	heights, texts := svgRects(t, string(v.DaysChart), "height")
	if len(heights) != 90 || heights[0] == 0 || heights[89] <= heights[0] || heights[45] != 0 {
		t.Errorf("day chart heights: first %v last %v", heights[0], heights[89])
	}
	if !strings.Contains(strings.Join(texts, " "), "09-02") {
		t.Errorf("day chart ticks: %v", texts)
	}
	if s := string(v.SeenChart); !strings.Contains(s, "&lt; 1 h: 2") || !strings.Contains(s, "never: 1") {
		t.Errorf("last seen chart:\n%s", s)
	}
	if len(v.Renewals) != 1 || v.Renewals[0].ID != "D1" {
		t.Errorf("renewals %v", v.Renewals)
	}
}

func TestNewDeviceView(t *testing.T) {
	seen := time.Now()
	d := &DeviceData{
		Device:    store.Device{DeviceID: "D1", State: store.StateEnrolled, User: "u", MACs: []string{"A", "B"}, Digest: store.DigestSecrets{ServerSecret: "REDACTED"}},
		Inventory: store.Inventory{Nodes: map[string]string{"./DevInfo/Mod": "m", "./DevInfo/Man": "x"}},
		LastSeen:  &seen, SessionAuth: store.AuthByDigest, SessionID: "7",
		Commands: []CommandData{
			{Command: &store.Command{ID: "c1", State: store.CommandAcknowledged}},
			{Command: &store.Command{ID: "c2", State: store.CommandQueued, Spec: store.CommandSpec{Sensitive: true}}},
		},
		Trace: &store.Trace{Exchanges: []store.Exchange{{Kind: "enrollment"}, {Kind: "management"}}},
	}
	v := newDeviceView(d)
	if !v.Active {
		t.Error("enrolled device not active")
	}
	rec := map[string]string{}
	for _, f := range v.Record {
		rec[f.Name] = f.Value
	}
	if rec["MAC addresses"] != "A, B" || !strings.Contains(rec["Last seen"], "digest, session 7") || rec["Name"] != "" {
		t.Errorf("record %v", rec)
	}
	for _, f := range v.Record {
		if strings.Contains(f.Value, "REDACTED") {
			t.Errorf("record shows digest fields: %v", f)
		}
	}
	if v.Inventory[0].Name != "./DevInfo/Man" || v.Inventory[1].Name != "./DevInfo/Mod" {
		t.Errorf("inventory not sorted: %v", v.Inventory)
	}
	if v.Commands[0].ID != "c2" || !v.Commands[0].Cancelable || !v.Commands[0].Sensitive || v.Commands[1].Cancelable {
		t.Errorf("commands newest first: %+v", v.Commands)
	}
	if len(v.Trace) != 2 || v.Trace[0].Kind != "management" {
		t.Errorf("trace newest first: %+v", v.Trace)
	}
	d.Device.State = store.StateRetired
	if newDeviceView(d).Active {
		t.Error("retired device offered actions")
	}
}
