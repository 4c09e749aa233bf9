package profile

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

const cam = "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera"

func rep(uri, format, data string) string {
	return `<Replace><CmdID>1</CmdID><Item><Target><LocURI>` + uri + `</LocURI></Target><Meta><Format xmlns="syncml:metinf">` +
		format + `</Format></Meta><Data>` + data + `</Data></Item></Replace>`
}

func TestValidateAccepts(t *testing.T) {
	p, err := Validate(`<?xml version="1.0"?><!-- camera off -->` + rep(cam, "int", "0") +
		`<Exec><CmdID>2</CmdID><Item><Target><LocURI>./Vendor/MSFT/Reboot/RebootNow</LocURI></Target></Item></Exec>`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Commands) != 2 || p.Commands[0].Items[0].Format != "int" || p.Commands[0].Items[0].Data != "0" {
		t.Errorf("commands %+v", p.Commands)
	}
	if len(p.Settings) != 1 || p.Settings[0].LocURI != cam {
		t.Errorf("settings %+v (Exec is not a setting)", p.Settings)
	}
	at, err := Validate(`<Atomic><CmdID>1</CmdID>` + rep(cam, "int", "0") + rep("./User/Vendor/MSFT/Policy/Config/X/Y", "chr", "a &amp; b") + `</Atomic>`)
	if err != nil {
		t.Fatal(err)
	}
	if len(at.Commands) != 1 || at.Commands[0].Verb != "Atomic" || len(at.Commands[0].Commands) != 2 || at.Settings[1].Data != "a & b" {
		t.Errorf("atomic %+v", at)
	}
	x, err := Validate(`<Replace><CmdID>1</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/X</LocURI></Target><Meta><Format xmlns="syncml:metinf">xml</Format></Meta><Data><a b="1">t</a></Data></Item></Replace>`)
	if err != nil || !x.Commands[0].Items[0].DataXML || !strings.Contains(x.Commands[0].Items[0].Data, `<a b="1">t</a>`) {
		t.Errorf("xml data: %v %+v", err, x)
	}
}

func TestValidateRefuses(t *testing.T) {
	good := rep(cam, "int", "0")
	get := `<Get><CmdID>3</CmdID><Item><Target><LocURI>` + cam + `</LocURI></Target></Item></Get>`
	for _, c := range []struct{ in, want string }{
		{"", "no SyncML"},
		{"<Replace>", "not well-formed"},
		{"<!-- x -->", "no command"},
		{get, "Get reads a value"},
		{`<Delete><CmdID>1</CmdID><Item><Target><LocURI>` + cam + `</LocURI></Target></Item></Delete>`, "Delete is not a setting"},
		{strings.Replace(good, "<Data>0</Data>", "<Data><![CDATA[0]]></Data>", 1), "CDATA"},
		{`<Atomic>` + good + get + `</Atomic>`, "Get inside Atomic"},
		{`<Atomic>` + good + `</Atomic>` + good, "only top-level command"},
		{`<Atomic><Atomic>` + good + `</Atomic></Atomic>`, "no Atomic inside"},
		{`<Sequence>` + good + `</Sequence>`, "Sequence"},
		{`<Foo/>`, "not a SyncML command"},
		{rep("./DevDetail/SwV", "chr", "x"), "outside ./Device/"},
		{rep("./Device/", "chr", "x"), "outside ./Device/"},
		{rep("./Device/Vendor/../../x", "chr", "x"), "'..'"},
		{`<Replace><CmdID>1</CmdID></Replace>`, "has no Item"},
		{`<Replace><Item><Target><LocURI>` + cam + `</LocURI></Target></Item></Replace>`, "has no Data"},
		{`<Exec><Item><Target><LocURI>./Device/A/B</LocURI></Target></Item><Item><Target><LocURI>./Device/A/C</LocURI></Target></Item></Exec>`, "exactly one Item"},
		{strings.Repeat(good, MaxSyncMLSize/len(good)+1), "over the limit"},
		{strings.Repeat(good, MaxCommands+1), "over the limit of"},
		{rep(cam, "chr", "{{.Nope}}"), "unknown variable"},
		{rep(cam, "chr", "{{ x"), "unknown variable"},
		{"hello " + good, "outside any command"},
		{`<!DOCTYPE x [<!ENTITY a "b">]>` + good, "DOCTYPE"},
		{`<SyncML><SyncBody>` + good + `</SyncBody></SyncML>`, "not a whole SyncML message"},
		{strings.Repeat("<Replace>", MaxDepth+2) + strings.Repeat("</Replace>", MaxDepth+2), "nests deeper"},
	} {
		_, err := Validate(c.in)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.60q: %v, want %q", c.in, err, c.want)
		}
	}
}

func TestVariables(t *testing.T) {
	v := DeviceVars{DeviceID: "D1", HWDevID: "H1", User: `a<b&c"`, DeviceName: "PC"}
	if got := v.Substitute("{{.DeviceID}}/{{.HWDevID}}/{{.User}}/{{.DeviceName}}", false); got != `D1/H1/a<b&c"/PC` {
		t.Errorf("plain: %q", got)
	}
	if got := v.Substitute("<u>{{.User}}</u>", true); got != "<u>a&lt;b&amp;c&#34;</u>" {
		t.Errorf("xml data escaped: %q", got)
	}
	if got := v.Substitute("{{.Other}} {{.DeviceID", false); got != "{{.Other}} {{.DeviceID" {
		t.Errorf("non-variables changed: %q", got)
	}
	specs := v.Commands([]store.CommandSpec{{Verb: "Atomic", Commands: []store.CommandSpec{{Verb: "Replace",
		Items: []store.ItemSpec{{Target: "./Device/X/{{.DeviceID}}", Data: "{{.User}}"}}}}}})
	if it := specs[0].Commands[0].Items[0]; it.Target != "./Device/X/D1" || it.Data != `a<b&c"` {
		t.Errorf("nested: %+v", it)
	}
	if err := checkVariables("{{.DeviceID}}{{.User}} and {{.DeviceName}}"); err != nil {
		t.Error(err)
	}
}

func TestTargetsAndOverlap(t *testing.T) {
	l := map[string]bool{"finance": true, "user": true}
	for _, c := range []struct {
		t    store.ProfileTargets
		want bool
	}{
		{store.ProfileTargets{All: true}, true},
		{store.ProfileTargets{All: true, ExcludeAny: []string{"user"}}, false},
		{store.ProfileTargets{IncludeAny: []string{"hr", "finance"}}, true},
		{store.ProfileTargets{IncludeAny: []string{"finance"}, ExcludeAny: []string{"kiosk"}}, true},
		{store.ProfileTargets{IncludeAny: []string{"hr"}}, false},
	} {
		if Match(c.t, l) != c.want {
			t.Errorf("Match(%+v) != %v", c.t, c.want)
		}
	}
	fin := store.ProfileTargets{IncludeAny: []string{"finance"}}
	for _, c := range []struct {
		a, b store.ProfileTargets
		want bool
	}{
		{fin, store.ProfileTargets{IncludeAny: []string{"hr"}}, true}, // a device may carry both
		{fin, store.ProfileTargets{IncludeAny: []string{"hr"}, ExcludeAny: []string{"finance"}}, false},
		{fin, store.ProfileTargets{All: true}, true},
		{fin, store.ProfileTargets{All: true, ExcludeAny: []string{"finance"}}, false},
		{store.ProfileTargets{IncludeAny: []string{"device"}}, store.ProfileTargets{IncludeAny: []string{"user"}}, false},
		{store.ProfileTargets{IncludeAny: []string{"os:10.0.19043"}}, store.ProfileTargets{IncludeAny: []string{"os:10.0.22621"}}, false},
		{store.ProfileTargets{IncludeAny: []string{"os:10.0.19043", "finance"}}, store.ProfileTargets{IncludeAny: []string{"os:10.0.22621"}}, true},
	} {
		if MayOverlap(c.a, c.b) != c.want || MayOverlap(c.b, c.a) != c.want {
			t.Errorf("MayOverlap(%+v, %+v) != %v", c.a, c.b, c.want)
		}
	}
	d := &store.Device{EnrollmentType: store.EnrollmentDevice, OSVersion: "10.0.19043.1288", WindowsPhone8: true}
	if got := strings.Join(AutoLabels(d), " "); got != "device os:10.0.19043 wp8" {
		t.Errorf("auto labels %q", got)
	}
	if _, err := NormalizeLabel("os:10", true); err == nil {
		t.Error("admin set an automatic label")
	}
	if l, err := NormalizeLabel(" Finance ", true); err != nil || l != "finance" {
		t.Errorf("normalize: %q %v", l, err)
	}
	if _, err := NormalizeTargets(store.ProfileTargets{}); err == nil {
		t.Error("no targets accepted")
	}
}

func TestConflict(t *testing.T) {
	mk := func(name, data string, inc ...string) *store.Profile {
		p, err := Prepare(name, PutRequest{SyncML: rep(cam, "int", data), IncludeAny: inc}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := mk("a", "0", "finance")
	if c := Conflict(mk("b", "1", "hr", "finance"), []*store.Profile{a}); c == nil || c.Other != "a" || c.LocURI != cam {
		t.Errorf("conflict not found: %v", c)
	}
	if c := Conflict(mk("b", "1", "os:10.0.19043", "hr"), []*store.Profile{a}); c == nil {
		t.Errorf("conflict through an automatic label not found: %v", c)
	}
	if c := Conflict(mk("b", "0", "finance"), []*store.Profile{a}); c != nil {
		t.Errorf("same value: %v", c)
	}
	// Disjoint admin labels: a conflict only while a device carries both,
	// which the service checks against the devices (TestConflictByLabels).
	if c := Conflict(mk("b", "1", "hr"), []*store.Profile{a}); c != nil {
		t.Errorf("finance and hr conflict by construction: %v", c)
	}
	b, _ := Prepare("b", PutRequest{SyncML: rep(strings.Replace(cam, "./Device/Vendor", "./Vendor", 1), "int", "1"), IncludeAny: []string{"finance"}}, time.Now())
	if c := Conflict(b, []*store.Profile{a}); c == nil {
		t.Error("./Vendor/MSFT and ./Device/Vendor/MSFT are the same node")
	}
	if _, err := Prepare("x", PutRequest{SyncML: rep(cam, "int", "0") + rep(cam, "int", "1"), All: true}, time.Now()); err == nil {
		t.Error("a profile setting one node twice differently")
	}
}

func dev() *store.Device {
	return &store.Device{DeviceID: "D1", User: "u@x", EnrollmentType: store.EnrollmentFull, OSVersion: "10.0.19043.1"}
}

func cat(metas ...*store.ProfileMeta) *store.ProfileCatalog {
	c := &store.ProfileCatalog{Profiles: map[string]*store.ProfileMeta{}}
	for _, m := range metas {
		c.Profiles[m.Name] = m
	}
	return c
}

func TestDecide(t *testing.T) {
	now := time.Now()
	fin := store.ProfileTargets{IncludeAny: []string{"finance"}}
	a := &store.ProfileMeta{Name: "a", Version: "v1", Targets: fin, Retries: 1, LocURIs: []string{cam, "./Device/X"}}
	b := &store.ProfileMeta{Name: "b", Version: "w1", Targets: fin, LocURIs: []string{"./Vendor/MSFT/Policy/Config/Camera/AllowCamera"}}
	none := func(string) bool { return false }
	in := func(labels map[string]bool, states map[string]*store.ProfileState, c *store.ProfileCatalog) []Action {
		return Decide(Input{Now: now, Device: dev(), Labels: labels, Catalog: c, States: &store.DeviceProfiles{Profiles: states}, Queued: none})
	}
	fl := map[string]bool{"finance": true}
	if acts := in(fl, nil, cat(a)); len(acts) != 1 || acts[0].Kind != ActDeliver {
		t.Errorf("new: %+v", acts)
	}
	if acts := in(map[string]bool{}, nil, cat(a)); len(acts) != 0 {
		t.Errorf("untargeted: %+v", acts)
	}
	applied := &store.ProfileState{Version: "v1", State: store.ProfileApplied, LocURIs: a.LocURIs}
	if acts := in(fl, map[string]*store.ProfileState{"a": applied}, cat(a)); len(acts) != 0 {
		t.Errorf("applied: %+v", acts)
	}
	if acts := in(fl, map[string]*store.ProfileState{"a": {Version: "v0", State: store.ProfileApplied}}, cat(a)); len(acts) != 1 || acts[0].Kind != ActDeliver {
		t.Errorf("new version: %+v", acts)
	}
	fp := Fingerprint(dev())
	failed := &store.ProfileState{Version: "v1", State: store.ProfileFailed, Attempts: 1, Fingerprint: fp}
	if acts := in(fl, map[string]*store.ProfileState{"a": failed}, cat(a)); len(acts) != 1 || acts[0].Kind != ActDeliver {
		t.Errorf("retry: %+v", acts)
	}
	failed.Attempts = 2
	if acts := in(fl, map[string]*store.ProfileState{"a": failed}, cat(a)); len(acts) != 0 {
		t.Errorf("retries exhausted: %+v", acts)
	}
	failed.Fingerprint = "other"
	if acts := in(fl, map[string]*store.ProfileState{"a": failed}, cat(a)); len(acts) != 1 || !acts[0].ResetAttempts {
		t.Errorf("device changed: %+v", acts)
	}
	// Removal: deleted profile, b still sets the camera (other spelling).
	acts := in(fl, map[string]*store.ProfileState{"a": applied}, cat(b))
	var rm *Action
	for i := range acts {
		if acts[i].Profile == "a" {
			rm = &acts[i]
		}
	}
	if rm == nil || rm.Kind != ActRemove || len(rm.LocURIs) != 1 || rm.LocURIs[0] != "./Device/X" {
		t.Errorf("removal: %+v", acts)
	}
	// Label gone: both removed, everything deleted.
	acts = in(map[string]bool{}, map[string]*store.ProfileState{"a": applied}, cat(a, b))
	if len(acts) != 1 || acts[0].Kind != ActRemove || len(acts[0].LocURIs) != 2 {
		t.Errorf("label removed: %+v", acts)
	}
	if acts := in(fl, map[string]*store.ProfileState{"a": {Version: "v1", State: store.ProfileRemoved}}, cat(b)); len(acts) != 2 || acts[0].Kind != ActForget {
		t.Errorf("forget: %+v", acts)
	}
	// In flight: nothing until answered.
	sent := &store.ProfileState{Version: "v1", State: store.ProfileSent, Commands: []store.ProfileCommand{{ID: "c1"}}}
	acts = Decide(Input{Now: now, Device: dev(), Labels: fl, Catalog: cat(a), States: &store.DeviceProfiles{Profiles: map[string]*store.ProfileState{"a": sent}},
		Queued: func(id string) bool { return id == "c1" }})
	if len(acts) != 0 {
		t.Errorf("in flight: %+v", acts)
	}
	// Verify due.
	a.Verify = &store.ProfileVerify{LocURIs: []string{cam}, Interval: "1h"}
	if acts := in(fl, map[string]*store.ProfileState{"a": applied}, cat(a)); len(acts) != 1 || acts[0].Kind != ActVerify {
		t.Errorf("verify: %+v", acts)
	}
}

func TestSettle(t *testing.T) {
	now := time.Now()
	st := &store.ProfileState{Version: "v", State: store.ProfileSent, Commands: []store.ProfileCommand{{ID: "1"}, {ID: "2"}}}
	Settle(st, &store.Command{ID: "1", State: store.CommandAcknowledged, Status: 200, Spec: store.CommandSpec{Verb: "Replace", Items: []store.ItemSpec{{Target: "./Device/A"}}}}, now)
	if st.State != store.ProfileSent {
		t.Fatalf("settled early: %s", st.State)
	}
	atomic := &store.Command{ID: "2", State: store.CommandAcknowledged, Status: 507, ChildStatuses: []int{216, 405},
		Spec: store.CommandSpec{Verb: "Atomic", Commands: []store.CommandSpec{{Verb: "Replace", Items: []store.ItemSpec{{Target: "./Device/B"}}}, {Verb: "Replace", Items: []store.ItemSpec{{Target: cam}}}}}}
	Settle(st, atomic, now)
	if st.State != store.ProfileFailed || len(st.Failures) != 1 || st.Failures[0] != "405 on "+cam {
		t.Errorf("atomic failure: %+v", st)
	}
	if Settle(st, atomic, now) {
		t.Error("a repeated answer changed the state")
	}
	rm := &store.ProfileState{Version: "v", State: store.ProfileRemoving, Commands: []store.ProfileCommand{{ID: "3"}, {ID: "4"}, {ID: "5"}}}
	Settle(rm, &store.Command{ID: "3", Status: 200}, now)
	Settle(rm, &store.Command{ID: "4", Status: 404}, now)
	Settle(rm, &store.Command{ID: "5", Status: 405}, now)
	if rm.State != store.ProfileRemoved || Describe(rm) != "removed (setting left on the device: 405)" {
		t.Errorf("removal: %s", Describe(rm))
	}
	ap := &store.ProfileState{Version: "v", State: store.ProfileApplied, VerifyCommand: "9"}
	SettleVerify(ap, &store.Command{ID: "9", Status: 200, Results: []store.Result{{Source: cam, Data: "1"}}}, map[string]string{cam: "0"}, now)
	if ap.State != store.ProfileDrifted || !strings.Contains(ap.Failures[0], cam) {
		t.Errorf("drift: %+v", ap)
	}
	ok := &store.ProfileState{Version: "v", State: store.ProfileApplied, VerifyCommand: "9"}
	SettleVerify(ok, &store.Command{ID: "9", Status: 405}, map[string]string{cam: "0"}, now)
	if ok.State != store.ProfileApplied || !strings.Contains(ok.Reason, "405") {
		t.Errorf("unreadable node: %+v", ok)
	}
}

// serviceWithDevices is a profile service over a memory store holding the
// enrolled devices ids.
func serviceWithDevices(t *testing.T, ids ...string) (*Service, *store.Store) {
	t.Helper()
	st := store.New(store.NewMemory())
	for _, id := range ids {
		if err := st.PutDevice(context.Background(), &store.Device{DeviceID: id, State: store.StateEnrolled}); err != nil {
			t.Fatal(err)
		}
	}
	return &Service{Store: st}, st
}

func TestServiceAndSummary(t *testing.T) {
	ctx := context.Background()
	svc, st := serviceWithDevices(t, "D1", "D2", "D3")
	for _, id := range []string{"D1", "D2"} {
		if _, err := svc.AddLabel(ctx, id, "finance"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.AddLabel(ctx, "nope", "finance"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("label on an unknown device: %v", err)
	}
	p, changed, err := svc.Put(ctx, "cam", PutRequest{SyncML: rep(cam, "int", "0"), IncludeAny: []string{"finance"}})
	if err != nil || !changed || p.Retries != DefaultRetries {
		t.Fatalf("put: %v %v %+v", err, changed, p)
	}
	if _, changed, _ := svc.Put(ctx, "cam", PutRequest{SyncML: rep(cam, "int", "0"), IncludeAny: []string{"finance"}}); changed {
		t.Error("identical put changed")
	}
	_, _, err = svc.Put(ctx, "cam2", PutRequest{SyncML: rep(cam, "int", "1"), All: true})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Other != "cam" {
		t.Errorf("conflict: %v", err)
	}
	sum, err := svc.Summary(ctx, "cam")
	if err != nil || sum.Targeted != 2 || sum.Counts[store.ProfilePending] != 2 {
		t.Errorf("summary: %+v %v", sum, err)
	}
	if err := st.SetProfileStatus(ctx, "cam", p.Version, "", store.ProfileFailed, "D1"); err != nil {
		t.Fatal(err)
	}
	dp := &store.DeviceProfiles{Profiles: map[string]*store.ProfileState{"cam": {Version: p.Version, State: store.ProfileFailed, Failures: []string{"405 on " + cam}}}}
	if err := st.PutDeviceProfiles(ctx, "D1", dp); err != nil {
		t.Fatal(err)
	}
	sum, _ = svc.Summary(ctx, "cam")
	if sum.Counts[store.ProfileFailed] != 1 || sum.Counts[store.ProfilePending] != 1 {
		t.Errorf("summary after a failure: %+v", sum)
	}
	page, err := svc.Devices(ctx, "cam", store.ProfileFailed, "", 10)
	if err != nil || len(page.Devices) != 1 || page.Devices[0].DeviceID != "D1" || page.Devices[0].Failures[0] != "405 on "+cam {
		t.Errorf("failed devices: %+v %v", page, err)
	}
	page, _ = svc.Devices(ctx, "cam", "", "", 1)
	if len(page.Devices) != 1 || page.Next != "D1" {
		t.Errorf("paging: %+v", page)
	}
	page, _ = svc.Devices(ctx, "cam", "", page.Next, 1)
	if len(page.Devices) != 1 || page.Devices[0].DeviceID != "D2" || page.Devices[0].State != store.ProfilePending || page.Next != "" {
		t.Errorf("page 2: %+v", page)
	}
	v, err := svc.Device(ctx, "D2")
	if err != nil || len(v.Profiles) != 1 || v.Profiles[0].State != store.ProfilePending || v.Labels[0] != "finance" {
		t.Errorf("device view: %+v %v", v, err)
	}
	// A retired device keeps its labels but is no longer targeted: it will
	// never check in to apply anything.
	retireDevice(t, st, "D1")
	if sum, _ := svc.Summary(ctx, "cam"); sum.Targeted != 1 || sum.Counts[store.ProfileFailed] != 0 || sum.Counts[store.ProfilePending] != 1 {
		t.Errorf("after retiring D1: %+v", sum)
	}
	if page, _ := svc.Devices(ctx, "cam", "", "", 10); len(page.Devices) != 1 || page.Devices[0].DeviceID != "D2" {
		t.Errorf("devices after retiring D1: %+v", page)
	}
	if _, err := svc.RemoveLabel(ctx, "D2", "finance"); err != nil {
		t.Fatal(err)
	}
	if sum, _ := svc.Summary(ctx, "cam"); sum.Targeted != 0 {
		t.Errorf("after label removal: %+v", sum)
	}
	if err := svc.Delete(ctx, "cam"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, "cam"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
	if ids, _ := st.ProfileStatusDevices(ctx, "cam", p.Version, store.ProfileFailed); len(ids) != 0 {
		t.Errorf("markers left: %v", ids)
	}
}

func TestParseHeader(t *testing.T) {
	req, err := ParseHeader("<!-- Camera.\n  @mdm include_any=finance,hr exclude_any=kiosk retries=5\n  @mdm verify=" + cam + " verify_interval=12h -->" + rep(cam, "int", "0"))
	if err != nil || len(req.IncludeAny) != 2 || req.ExcludeAny[0] != "kiosk" || *req.Retries != 5 || req.Verify.LocURIs[0] != cam || req.Verify.Interval != "12h" {
		t.Errorf("%+v %v", req, err)
	}
	if _, err := ParseHeader(rep(cam, "int", "0")); err == nil || !strings.Contains(err.Error(), "@mdm") {
		t.Errorf("no header: %v", err)
	}
	if _, err := ParseHeader("<!-- @mdm color=red -->"); err == nil {
		t.Error("unknown field accepted")
	}
	// A file saved by Notepad starts with a byte order mark.
	req, err = ParseHeader("\ufeff<!-- @mdm all -->\n" + rep(cam, "int", "0"))
	if err != nil || !req.All {
		t.Fatalf("header after a BOM: %+v %v", req, err)
	}
	p, err := Prepare("bom", req, time.Now())
	if err != nil || strings.HasPrefix(p.SyncML, "\ufeff") {
		t.Errorf("profile with a BOM: %v", err)
	}
	if p2, _ := Prepare("bom", PutRequest{SyncML: req.SyncML[len("\ufeff"):], All: true}, time.Now()); p2 == nil || p2.Version != p.Version {
		t.Error("a BOM changed the version")
	}
}

// TestShippedExamples loads caddyfile-examples/profiles as a profiles_dir:
// every shipped profile validates, with the LocURIs and values the CSP
// documentation gives.
func TestShippedExamples(t *testing.T) {
	reqs, err := LoadDir("../../caddyfile-examples/profiles")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"bitlocker": {"./Device/Vendor/MSFT/BitLocker/RequireDeviceEncryption": "1"},
		"windows-update-deadlines": {
			"./Device/Vendor/MSFT/Policy/Config/Update/ConfigureDeadlineForQualityUpdates": "3",
			"./Device/Vendor/MSFT/Policy/Config/Update/ConfigureDeadlineForFeatureUpdates": "7",
			"./Device/Vendor/MSFT/Policy/Config/Update/ConfigureDeadlineGracePeriod":       "2",
		},
		"camera-off": {cam: "0"},
		"password-policy": {
			"./Device/Vendor/MSFT/Policy/Config/DeviceLock/DevicePasswordEnabled":              "0",
			"./Device/Vendor/MSFT/Policy/Config/DeviceLock/AlphanumericDevicePasswordRequired": "0",
			"./Device/Vendor/MSFT/Policy/Config/DeviceLock/MinDevicePasswordLength":            "8",
			"./Device/Vendor/MSFT/Policy/Config/DeviceLock/MaxInactivityTimeDeviceLock":        "15",
		},
		"defender-realtime": {"./Device/Vendor/MSFT/Policy/Config/Defender/AllowRealtimeMonitoring": "1"},
	}
	if len(reqs) != len(want) {
		t.Errorf("%d profiles, want %d", len(reqs), len(want))
	}
	var all []*store.Profile
	for name, settings := range want {
		req, ok := reqs[name]
		if !ok {
			t.Errorf("no %s.xml", name)
			continue
		}
		p, err := Prepare(name, req, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range p.Settings {
			if s.Format != "int" {
				t.Errorf("%s: %s has format %q, the CSP says int", name, s.LocURI, s.Format)
			}
			got[s.LocURI] = s.Data
		}
		for uri, v := range settings {
			if got[uri] != v {
				t.Errorf("%s: %s = %q, want %q", name, uri, got[uri], v)
			}
		}
		all = append(all, p)
	}
	if p := reqs["password-policy"]; !strings.Contains(p.SyncML, "<Atomic>") {
		t.Error("DeviceLock policies must be wrapped in an Atomic")
	}
	for _, p := range all {
		if c := Conflict(p, all); c != nil {
			t.Errorf("shipped profiles conflict: %v", c)
		}
	}
}

func TestSensitiveProfiles(t *testing.T) {
	wifi := rep("./Device/Vendor/MSFT/WiFi/Profile/corp/WlanXml", "chr", "&lt;WLANProfile&gt;key&lt;/WLANProfile&gt;")
	p, err := Prepare("wifi", PutRequest{SyncML: wifi, All: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Sensitive || !p.Commands[0].Sensitive {
		t.Errorf("secret node not sensitive: %+v", p)
	}
	r := Redacted(p)
	if r.SyncML != "REDACTED" || r.Settings[0].Data != "REDACTED" || r.Commands != nil || p.SyncML == "REDACTED" {
		t.Errorf("redacted: %+v (original %q)", r, p.SyncML)
	}
	other, _ := Prepare("wifi2", PutRequest{SyncML: strings.Replace(wifi, "key", "other", 1), All: true}, time.Now())
	if c := Conflict(other, []*store.Profile{p}); c == nil || strings.Contains(c.Error(), "key") || strings.Contains(c.Error(), "other&") {
		t.Errorf("conflict shows secrets: %v", c)
	}
	plain, _ := Prepare("cam", PutRequest{SyncML: rep(cam, "int", "0"), All: true}, time.Now())
	if plain.Sensitive || Redacted(plain) != plain {
		t.Error("plain profile redacted")
	}
}

// A delivery (or removal) some of whose commands will never be answered
// (an admin canceled one, or it was lost) is settled as failed by ActLost
// instead of staying "sent" forever.
func TestLostCommandsSettle(t *testing.T) {
	now := time.Now()
	a := &store.ProfileMeta{Name: "a", Version: "v1", Targets: store.ProfileTargets{All: true}, LocURIs: []string{cam, "./Device/X"}}
	sent := &store.ProfileState{Version: "v1", State: store.ProfileSent, Attempts: 1,
		Commands: []store.ProfileCommand{{ID: "c1", Status: 200}, {ID: "c2"}}}
	none := func(string) bool { return false }
	acts := Decide(Input{Now: now, Device: dev(), Labels: map[string]bool{}, Catalog: cat(a),
		States: &store.DeviceProfiles{Profiles: map[string]*store.ProfileState{"a": sent}}, Queued: none})
	if len(acts) != 1 || acts[0].Kind != ActLost {
		t.Fatalf("half-answered delivery, nothing in flight: %+v", acts)
	}
	if !SettleLost(sent, now) || sent.State != store.ProfileFailed || !strings.Contains(strings.Join(sent.Failures, ";"), "canceled") {
		t.Fatalf("settled: %+v", sent)
	}
	// Still in flight: wait.
	inFlight := &store.ProfileState{Version: "v1", State: store.ProfileSent, Attempts: 1,
		Commands: []store.ProfileCommand{{ID: "c1", Status: 200}, {ID: "c2"}}}
	acts = Decide(Input{Now: now, Device: dev(), Labels: map[string]bool{}, Catalog: cat(a),
		States: &store.DeviceProfiles{Profiles: map[string]*store.ProfileState{"a": inFlight}}, Queued: func(id string) bool { return id == "c2" }})
	if len(acts) != 0 {
		t.Fatalf("a command still queued: %+v", acts)
	}
}

// A new version that no longer sets a node deletes it from the device
// (unless another targeting profile sets it), so that editing a setting
// out of a profile does not leave it behind for good.
func TestNewVersionDeletesWhatItNoLongerSets(t *testing.T) {
	now := time.Now()
	all := store.ProfileTargets{All: true}
	v2 := &store.ProfileMeta{Name: "a", Version: "v2", Targets: all, LocURIs: []string{"./Device/X"}}
	other := &store.ProfileMeta{Name: "b", Version: "w1", Targets: all, LocURIs: []string{"./Device/Z"}}
	st := &store.ProfileState{Version: "v1", State: store.ProfileApplied,
		LocURIs: []string{"./Device/X", "./Device/Y", "./Device/Z"}, Commands: []store.ProfileCommand{{ID: "c1", Status: 200}}}
	acts := Decide(Input{Now: now, Device: dev(), Labels: map[string]bool{}, Catalog: cat(v2, other),
		States: &store.DeviceProfiles{Profiles: map[string]*store.ProfileState{"a": st, "b": {Version: "w1", State: store.ProfileApplied}}},
		Queued: func(string) bool { return false }})
	var deliver *Action
	for i := range acts {
		if acts[i].Kind == ActDeliver && acts[i].Profile == "a" {
			deliver = &acts[i]
		}
	}
	if deliver == nil || strings.Join(deliver.LocURIs, ",") != "./Device/Y" {
		t.Fatalf("delivery of v2: %+v (want ./Device/Y deleted: X is still set, Z is profile b's)", acts)
	}
}

// TestConflictByLabels: profiles on disjoint admin labels conflict only
// while a device carries labels of both: refused at upload when one does,
// accepted when none does, and a label change that would make a device
// targeted by both is refused.
func TestConflictByLabels(t *testing.T) {
	ctx := context.Background()
	svc, st := serviceWithDevices(t, "D1", "D2", "D3")
	label := func(id, l string) {
		t.Helper()
		if _, err := svc.AddLabel(ctx, id, l); err != nil {
			t.Fatal(err)
		}
	}
	label("D1", "finance")
	label("D2", "hr")
	label("D3", "finance")
	label("D3", "contractor")
	put := func(name, value string, req PutRequest) error {
		req.SyncML = rep(cam, "int", value)
		_, _, err := svc.Put(ctx, name, req)
		return err
	}
	if err := put("camera-off", "0", PutRequest{IncludeAny: []string{"finance"}, ExcludeAny: []string{"contractor"}}); err != nil {
		t.Fatal(err)
	}
	// No device is in finance (minus contractors) and hr: accepted.
	if err := put("camera-on-hr", "1", PutRequest{IncludeAny: []string{"hr"}}); err != nil {
		t.Fatalf("finance and hr, no device in both: %v", err)
	}
	// All devices include finance ones: refused by construction.
	var ce *ConflictError
	if err := put("camera-on-all", "1", PutRequest{All: true}); !errors.As(err, &ce) || ce.Other != "camera-off" {
		t.Errorf("all against finance: %v", err)
	}
	// A label that would put a device in both is refused, naming both.
	if _, err := svc.AddLabel(ctx, "D1", "hr"); !errors.As(err, &ce) || ce.Device != "D1" || ce.Label != "hr" || !errors.Is(err, ErrConflict) {
		t.Errorf("hr on a finance device: %v", err)
	} else if !strings.Contains(err.Error(), "camera-off") || !strings.Contains(err.Error(), "camera-on-hr") {
		t.Errorf("refusal names the profiles: %v", err)
	}
	if l, _ := st.DeviceLabels(ctx, "D1"); slices.Contains(l.Admin, "hr") {
		t.Error("the refused label was stored")
	}
	// D3 (finance, contractor) may carry hr: camera-off excludes it.
	label("D3", "hr")
	// Taking contractor off D3 would put it in both: refused.
	if _, err := svc.RemoveLabel(ctx, "D3", "contractor"); !errors.As(err, &ce) || ce.Device != "D3" {
		t.Errorf("contractor off a finance+hr device: %v", err)
	}
	// A device in both before the upload: refused, naming the device.
	if err := svc.Delete(ctx, "camera-on-hr"); err != nil {
		t.Fatal(err)
	}
	label("D1", "hr")
	if err := put("camera-on-hr", "1", PutRequest{IncludeAny: []string{"hr"}}); !errors.As(err, &ce) || ce.Device != "D1" || ce.Other != "camera-off" {
		t.Errorf("hr profile with D1 in finance and hr: %v", err)
	}
	// The same value never conflicts.
	if err := put("camera-off-hr", "0", PutRequest{IncludeAny: []string{"hr"}}); err != nil {
		t.Errorf("same value: %v", err)
	}
}

// TestUntargetedDeviceIsRemoving: a device that leaves a profile's targets
// (its label removed) or whose profile is deleted is "removing" from that
// moment, in the profile's counts and in the device's view, until its next
// session takes the settings off; not shown as applied, nor counted
// nowhere.
func TestUntargetedDeviceIsRemoving(t *testing.T) {
	ctx := context.Background()
	svc, st := serviceWithDevices(t, "D1")
	if _, err := svc.AddLabel(ctx, "D1", "finance"); err != nil {
		t.Fatal(err)
	}
	p, _, err := svc.Put(ctx, "cam", PutRequest{SyncML: rep(cam, "int", "0"), IncludeAny: []string{"finance"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetProfileStatus(ctx, "cam", p.Version, "", store.ProfileApplied, "D1"); err != nil {
		t.Fatal(err)
	}
	dp := &store.DeviceProfiles{Profiles: map[string]*store.ProfileState{"cam": {Version: p.Version, State: store.ProfileApplied}}}
	if err := st.PutDeviceProfiles(ctx, "D1", dp); err != nil {
		t.Fatal(err)
	}
	if sum, _ := svc.Summary(ctx, "cam"); sum.Counts[store.ProfileApplied] != 1 {
		t.Fatalf("summary while targeted: %+v", sum)
	}
	if _, err := svc.RemoveLabel(ctx, "D1", "finance"); err != nil {
		t.Fatal(err)
	}
	if sum, _ := svc.Summary(ctx, "cam"); sum.Targeted != 0 || sum.Counts[store.ProfileRemoving] != 1 || sum.Counts[store.ProfileApplied] != 0 {
		t.Errorf("summary after the label went: %+v", sum)
	}
	if page, _ := svc.Devices(ctx, "cam", store.ProfileRemoving, "", 10); len(page.Devices) != 1 || page.Devices[0].DeviceID != "D1" || page.Devices[0].State != store.ProfileRemoving {
		t.Errorf("removing devices: %+v", page)
	}
	v, err := svc.Device(ctx, "D1")
	if err != nil || len(v.Profiles) != 1 || v.Profiles[0].State != store.ProfileRemoving || !strings.Contains(v.Profiles[0].Detail, "no longer targeted") {
		t.Errorf("device view after the label went: %+v %v", v, err)
	}
	if err := svc.Delete(ctx, "cam"); err != nil {
		t.Fatal(err)
	}
	if v, _ := svc.Device(ctx, "D1"); len(v.Profiles) != 1 || v.Profiles[0].State != store.ProfileRemoving || !strings.Contains(v.Profiles[0].Detail, "profile deleted") {
		t.Errorf("device view after the profile went: %+v", v)
	}
	// A retired device never checks in again: nothing is being removed.
	retireDevice(t, st, "D1")
	if v, _ := svc.Device(ctx, "D1"); len(v.Profiles) != 1 || v.Profiles[0].State != store.ProfileApplied {
		t.Errorf("retired device's view: %+v", v)
	}
}

// TestSensitiveVersionIsKeyed: a sensitive profile's version is keyed with
// a stored secret, so the version the API shows next to the redacted
// SyncML confirms no guess of the secret; stable across puts.
func TestSensitiveVersionIsKeyed(t *testing.T) {
	ctx := context.Background()
	svc, _ := serviceWithDevices(t, "D1")
	syncML := rep("./Device/Vendor/MSFT/WiFi/Profile/corp/WlanXml", "chr", "PSK-SECRET-123")
	p, _, err := svc.Put(ctx, "wifi", PutRequest{SyncML: syncML, All: true, Sensitive: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Version == Version(syncML) || len(p.Version) != 16 {
		t.Errorf("sensitive version %q is the plain content hash", p.Version)
	}
	again, changed, err := svc.Put(ctx, "wifi", PutRequest{SyncML: syncML, All: true, Sensitive: true})
	if err != nil || changed || again.Version != p.Version {
		t.Errorf("the same sensitive profile again: %v changed=%v version %s → %s", err, changed, p.Version, again.Version)
	}
	plain, _, err := svc.Put(ctx, "plain", PutRequest{SyncML: rep(cam, "int", "0"), All: true})
	if err != nil || plain.Version != Version(rep(cam, "int", "0")) {
		t.Errorf("a profile that is not sensitive keeps its content hash: %v %s", err, plain.Version)
	}
}

// TestLabelErrorsNameLabels: a bad label is "invalid label", not "invalid
// profile" (no profile is involved), and still an ErrInvalid (a 400).
func TestLabelErrorsNameLabels(t *testing.T) {
	_, err := NormalizeLabel("bad label!", true)
	if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "invalid label: ") {
		t.Errorf("bad label: %v", err)
	}
	if _, err := NormalizeLabel("os:10.0.1", true); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "set by the server") {
		t.Errorf("automatic label: %v", err)
	}
}

// retireDevice marks a stored device retired, as lifecycle does.
func retireDevice(t *testing.T, st *store.Store, id string) {
	t.Helper()
	ctx := context.Background()
	d, err := st.Device(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	d.State = store.StateRetired
	if err := st.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
}
