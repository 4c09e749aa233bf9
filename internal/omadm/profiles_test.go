package omadm

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// opCounter counts storage operations, for the benchmarks' costs.
type opCounter struct {
	*store.Memory
	stores, loads, lists atomic.Int64
}

func (c *opCounter) Store(ctx context.Context, k string, v []byte) error {
	c.stores.Add(1)
	return c.Memory.Store(ctx, k, v)
}

func (c *opCounter) Load(ctx context.Context, k string) ([]byte, error) {
	c.loads.Add(1)
	return c.Memory.Load(ctx, k)
}

func (c *opCounter) List(ctx context.Context, p string, r bool) ([]string, error) {
	c.lists.Add(1)
	return c.Memory.List(ctx, p, r)
}

func (c *opCounter) reset() { c.stores.Store(0); c.loads.Store(0); c.lists.Store(0) }

func profileXML(uri, data string) string {
	return `<Replace><CmdID>1</CmdID><Item><Target><LocURI>` + uri + `</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>` + data + `</Data></Item></Replace>`
}

const pkg1 = `<Alert><CmdID>2</CmdID><Data>1201</Data></Alert>`

// ackAll answers every command of a reply with code (Atomic children too),
// except those whose first target is in fail.
func ackAll(m *syncml.Message, code int, fail map[string]int) string {
	var b strings.Builder
	b.WriteString(status(1, m.Header.MsgID, "0", "SyncHdr", 200))
	n := 2
	var walk func(cs []*syncml.Command)
	walk = func(cs []*syncml.Command) {
		for _, c := range cs {
			if c.Name == syncml.CmdStatus {
				continue
			}
			st := code
			if len(c.Items) > 0 {
				if f, ok := fail[c.Items[0].Target]; ok {
					st = f
				}
			}
			if c.Name == syncml.CmdAtomic {
				st = 507
			}
			b.WriteString(status(n, m.Header.MsgID, c.CmdID, c.Name, st))
			n++
			walk(c.Children)
		}
	}
	walk(m.Commands)
	return b.String()
}

// TestProfileSession runs the reconciler through Handle: an Atomic profile
// whose second setting fails reports that child's code and LocURI.
func TestProfileSession(t *testing.T) {
	h := newHarness(t, AuthEither, store.NewMemory())
	h.enroll(deviceA)
	ctx := context.Background()
	svc := &profile.Service{Store: h.srv.Store}
	at := `<Atomic><CmdID>1</CmdID>` + profileXML("./Device/Vendor/MSFT/A", "1") + profileXML("./Device/Vendor/MSFT/B", "{{.DeviceID}}") + `</Atomic>`
	if _, _, err := svc.Put(ctx, "p", profile.PutRequest{SyncML: at, All: true, Retries: new(int)}); err != nil {
		t.Fatal(err)
	}
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", pkg1, true))
	sent := sentCommands(m)
	if len(sent) != 1 || sent[0].Name != "Atomic" || sent[0].Children[1].Items[0].Data != deviceA {
		t.Fatalf("delivery: %+v", sent)
	}
	h.send(deviceA, msg(deviceA, "1", 2, "", ackAll(m, 216, map[string]int{"./Device/Vendor/MSFT/B": 405}), true))
	dp, _ := h.srv.Store.DeviceProfiles(ctx, deviceA)
	st := dp.Profiles["p"]
	if st == nil || st.State != store.ProfileFailed || strings.Join(st.Failures, ";") != "405 on ./Device/Vendor/MSFT/B" {
		t.Fatalf("state: %+v", st)
	}
	// Retries 0: the next session leaves it failed.
	_, m = h.send(deviceA, msg(deviceA, "2", 1, "", pkg1, true))
	if len(sentCommands(m)) != 0 {
		t.Errorf("redelivered with retries 0: %+v", sentCommands(m))
	}
	labels, _ := h.srv.Store.DeviceLabels(ctx, deviceA)
	if strings.Join(labels.Auto, ",") != "user" {
		t.Errorf("automatic labels: %+v", labels)
	}
	if ids, _ := h.srv.Store.LabelDevices(ctx, "user"); len(ids) != 1 || ids[0] != deviceA {
		t.Errorf("label index: %v", ids)
	}
}

// TestWipeRecorded queues a wipe and checks the history follows its answer.
func TestWipeRecorded(t *testing.T) {
	h := newHarness(t, AuthEither, store.NewMemory())
	h.enroll(deviceA)
	ctx := context.Background()
	cmd, err := h.srv.Wipe(ctx, deviceA, false)
	if err != nil || cmd.Spec.Items[0].Target != WipeURI {
		t.Fatal(err, cmd)
	}
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", pkg1, true))
	if s := sentCommands(m); len(s) != 1 || s[0].Name != "Exec" || s[0].Items[0].Meta.Format != "chr" {
		t.Fatalf("sent: %+v", s)
	}
	h.send(deviceA, msg(deviceA, "1", 2, "", ackAll(m, 200, nil), true))
	a, _ := h.srv.Store.DeviceActions(ctx, deviceA)
	if len(a.Actions) != 1 || a.Actions[0].Action != PurposeWipe || a.Actions[0].Status != 200 || a.Actions[0].State != store.CommandAcknowledged {
		t.Errorf("history: %+v", a.Actions)
	}
}

// BenchmarkApplyProfileFleet applies one profile to 100,000 stored devices
// carrying its label: time and storage writes per apply (pending is
// implicit, so no per-device write), and the cost of its summary (counts
// per state from listings).
func BenchmarkApplyProfileFleet(b *testing.B) {
	fleet := benchFleet()
	ctx := context.Background()
	cs := &opCounter{Memory: store.NewMemory()}
	st := store.New(cs)
	svc := &profile.Service{Store: st}
	for i := range fleet {
		id := "D" + strconv.Itoa(100000+i)
		// The records are written straight to their keys: what is measured
		// is the profile, not the store's device indexes.
		rec, _ := json.Marshal(&store.Device{DeviceID: id, State: store.StateEnrolled})
		if err := cs.Memory.Store(ctx, "mdm/devices/"+id+"/record.json", rec); err != nil {
			b.Fatal(err)
		}
		if err := st.IndexLabel(ctx, "finance", id); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("apply", func(b *testing.B) {
		cs.reset()
		i := 0
		for b.Loop() {
			i++
			_, changed, err := svc.Put(ctx, "camera", profile.PutRequest{SyncML: profileXML("./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera", strconv.Itoa(i%2)), IncludeAny: []string{"finance"}})
			if err != nil || !changed {
				b.Fatal(err, changed)
			}
		}
		b.ReportMetric(float64(cs.stores.Load())/float64(b.N), "writes/op")
		b.ReportMetric(float64(cs.loads.Load())/float64(b.N), "reads/op")
	})
	b.Run("summary", func(b *testing.B) {
		cs.reset()
		for b.Loop() {
			sum, err := svc.Summary(ctx, "camera")
			if err != nil || sum.Targeted != fleet || sum.Counts[store.ProfilePending] != fleet {
				b.Fatal(err, sum)
			}
		}
		b.ReportMetric(float64(cs.lists.Load())/float64(b.N), "lists/op")
		b.ReportMetric(float64(cs.loads.Load())/float64(b.N), "reads/op")
	})
}

// BenchmarkSessionProfiles is a device's poll (a new session: package 1 of
// real device A) with 0 or 20 profiles applied: the reconciler's cost per
// session, reads and writes per op included. It reads three keys (labels,
// profile states, catalog) whatever the fleet's size, and writes nothing
// when nothing changed.
func BenchmarkSessionProfiles(b *testing.B) {
	msg1 := capture.Read(b, "a-syncml-session1-msg1.xml")
	for _, n := range []int{0, 20} {
		b.Run("profiles="+strconv.Itoa(n), func(b *testing.B) {
			cs := &opCounter{Memory: store.NewMemory()}
			h := newHarness(b, AuthEither, cs)
			h.enroll(deviceA)
			ctx := context.Background()
			svc := &profile.Service{Store: h.srv.Store}
			for i := range n {
				if _, _, err := svc.Put(ctx, "p"+strconv.Itoa(i), profile.PutRequest{SyncML: profileXML("./Device/Vendor/MSFT/Policy/Config/X/N"+strconv.Itoa(i), "1"), All: true}); err != nil {
					b.Fatal(err)
				}
			}
			peer := []*x509.Certificate{h.certs[deviceA]}
			r, err := h.srv.Handle(ctx, Request{Body: replaceSession(msg1, "5"), PeerCertificates: peer, ServerURL: serverURL})
			if err != nil || len(r.Report.Sent) != n {
				b.Fatalf("delivery: %v %+v", err, r.Report)
			}
			m, _ := syncml.Parse(r.Body)
			if _, err := h.srv.Handle(ctx, Request{Body: msg(deviceA, "5", 2, "", ackAll(m, 200, nil), true), PeerCertificates: peer, ServerURL: serverURL}); err != nil {
				b.Fatal(err)
			}
			dp, _ := h.srv.Store.DeviceProfiles(ctx, deviceA)
			for _, s := range dp.Profiles {
				if s.State != store.ProfileApplied {
					b.Fatalf("setup: %+v", s)
				}
			}
			bodies := make([][]byte, 64)
			for i := range bodies {
				bodies[i] = replaceSession(msg1, strconv.Itoa(i+10))
			}
			cs.reset()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r, err := h.srv.Handle(ctx, Request{Body: bodies[i%len(bodies)], PeerCertificates: peer, ServerURL: serverURL})
				if err != nil || len(r.Report.Sent) != 0 {
					b.Fatalf("poll: %v %+v", err, r.Report)
				}
			}
			b.ReportMetric(float64(cs.loads.Load())/float64(b.N), "reads/op")
			b.ReportMetric(float64(cs.stores.Load())/float64(b.N), "writes/op")
		})
	}
}

// benchFleet is the fleet size of BenchmarkApplyProfileFleet: 100,000, or
// MDM_BENCH_FLEET.
func benchFleet() int {
	if n, err := strconv.Atoi(os.Getenv("MDM_BENCH_FLEET")); err == nil && n > 0 {
		return n
	}
	return 100000
}

// TestProfileDrift runs a drift check: after delivery, the next session
// reads the listed node back, and a different value marks it drifted; a
// node the device cannot read keeps it applied.
func TestProfileDrift(t *testing.T) {
	h := newHarness(t, AuthEither, store.NewMemory())
	h.enroll(deviceA)
	ctx := context.Background()
	svc := &profile.Service{Store: h.srv.Store}
	const node = "./Device/Vendor/MSFT/Policy/Config/Defender/AllowRealtimeMonitoring"
	req := profile.PutRequest{SyncML: profileXML(node, "1"), All: true, Verify: &store.ProfileVerify{LocURIs: []string{node}, Interval: "1h"}}
	if _, _, err := svc.Put(ctx, "defender", req); err != nil {
		t.Fatal(err)
	}
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", pkg1, true))
	h.send(deviceA, msg(deviceA, "1", 2, "", ackAll(m, 200, nil), true))
	// The next session reads it back: the device says 0.
	_, m = h.send(deviceA, msg(deviceA, "2", 1, "", pkg1, true))
	sent := sentCommands(m)
	if len(sent) != 1 || sent[0].Name != "Get" || sent[0].Items[0].Target != node {
		t.Fatalf("verify: %+v", sent)
	}
	results := `<Results><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>` + sent[0].CmdID + `</CmdRef><Item><Source><LocURI>` + node + `</LocURI></Source><Data>0</Data></Item></Results>`
	h.send(deviceA, msg(deviceA, "2", 2, "", ackAll(m, 200, nil)+results, true))
	dp, _ := h.srv.Store.DeviceProfiles(ctx, deviceA)
	if st := dp.Profiles["defender"]; st.State != store.ProfileDrifted || !strings.Contains(st.Failures[0], `is "0", the profile sets "1"`) {
		t.Fatalf("drift: %+v", st)
	}
	// Within the interval nothing is read again.
	_, m = h.send(deviceA, msg(deviceA, "3", 1, "", pkg1, true))
	if len(sentCommands(m)) != 0 {
		t.Errorf("read back again: %+v", sentCommands(m))
	}
}

// A profile command the reply itself finishes (larger than the device's
// MaxObjSize) settles the profile: failed with 413, retried as
// configured, then left failed, not "sent" forever.
func TestProfileFinishedByTheReplySettles(t *testing.T) {
	h := newHarness(t, AuthEither, store.NewMemory())
	h.enroll(deviceA)
	ctx := context.Background()
	svc := &profile.Service{Store: h.srv.Store}
	one := 1
	big := profileXML("./Device/Vendor/MSFT/A", strings.Repeat("7", 3000))
	if _, _, err := svc.Put(ctx, "big", profile.PutRequest{SyncML: big, All: true, Retries: &one}); err != nil {
		t.Fatal(err)
	}
	const small = `<Meta><MaxObjSize xmlns="syncml:metinf">1000</MaxObjSize></Meta>`
	for i, want := range []int{1, 2, 2} {
		sid := strconv.Itoa(i + 1)
		_, m := h.send(deviceA, msg(deviceA, sid, 1, small, pkg1, true))
		if n := len(sentCommands(m)); n != 0 {
			t.Fatalf("session %d sent %d commands over MaxObjSize", i+1, n)
		}
		dp, _ := h.srv.Store.DeviceProfiles(ctx, deviceA)
		st := dp.Profiles["big"]
		if st == nil || st.State != store.ProfileFailed || st.Attempts != want || !strings.Contains(strings.Join(st.Failures, ";"), "413") {
			t.Fatalf("session %d: %+v, want failed with 413 after %d deliveries", i+1, st, want)
		}
	}
}

// A profile one of whose commands is refused once the device's values are
// filled in (here: too large) is failed whole: none of its commands goes
// out, not even those queued before the refused one.
func TestProfileRefusedAfterSubstitutionSendsNothing(t *testing.T) {
	h := newHarness(t, AuthEither, store.NewMemory())
	h.enroll(deviceA)
	ctx := context.Background()
	dev, err := h.srv.Store.Device(ctx, deviceA)
	if err != nil {
		t.Fatal(err)
	}
	dev.DeviceName = strings.Repeat("n", 400)
	if err := h.srv.Store.PutDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	svc := &profile.Service{Store: h.srv.Store}
	huge := strings.Replace(profileXML("./Device/Vendor/MSFT/B", strings.Repeat("{{.DeviceName}}", 12000)), ">int<", ">chr<", 1)
	huge = strings.Replace(huge, "<CmdID>1</CmdID>", "<CmdID>2</CmdID>", 1)
	if _, _, err := svc.Put(ctx, "p", profile.PutRequest{SyncML: profileXML("./Device/Vendor/MSFT/A", "1") + huge, All: true, Retries: new(int)}); err != nil {
		t.Fatal(err)
	}
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", pkg1, true))
	if s := sentCommands(m); len(s) != 0 {
		t.Fatalf("sent %d commands of a refused profile: %+v", len(s), s[0].Items)
	}
	dp, _ := h.srv.Store.DeviceProfiles(ctx, deviceA)
	if st := dp.Profiles["p"]; st == nil || st.State != store.ProfileFailed || !strings.Contains(strings.Join(st.Failures, ";"), "not delivered") {
		t.Fatalf("state: %+v", st)
	}
}
