package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/emulator"
)

const (
	cameraURI   = "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera"
	deadlineURI = "./Device/Vendor/MSFT/Policy/Config/Update/ConfigureDeadlineForQualityUpdates"
	nameURI     = "./Device/Vendor/MSFT/DMClient/Provider/caddy-mdm/EntDeviceName"
)

func replaceXML(uri, format, data string) string {
	return `<Replace><CmdID>1</CmdID><Item><Target><LocURI>` + uri + `</LocURI></Target>` +
		`<Meta><Format xmlns="syncml:metinf">` + format + `</Format></Meta><Data>` + data + `</Data></Item></Replace>`
}

// fleetDevice is an emulated device kept in a state directory.
type fleetDevice struct {
	id, state string
}

// session runs one OMA-DM session of the device and returns the emulator's
// report (its "executed:" line lists what the device carried out).
func (s *server) fleetSession(t *testing.T, d *fleetDevice, extra ...string) string {
	t.Helper()
	out, err := s.emulate(append([]string{"--state", d.state}, extra...)...)
	mustPass(t, "session of "+d.id, out, err)
	return out
}

// enrollFleetDevice enrolls a device without running a session, so that
// labels set now are there at its first session.
func (s *server) enrollFleetDevice(t *testing.T) *fleetDevice {
	t.Helper()
	dir := t.TempDir()
	out, err := s.emulate("--state", dir, "--sessions", "0")
	return &fleetDevice{id: mustPass(t, "enrollment", out, err), state: dir}
}

func (s *server) label(t *testing.T, d *fleetDevice, verb, label string) {
	t.Helper()
	if out, err := s.cli("label", d.id, verb, label); err != nil {
		t.Fatalf("label %s %s %s: %v\n%s", d.id, verb, label, err, out)
	}
}

func (s *server) putProfile(t *testing.T, name, body string, want int) string {
	t.Helper()
	r := s.admin(http.MethodPut, "/mdm/profiles/"+name, body)
	if r.StatusCode != want {
		t.Fatalf("PUT profile %s: %d %s, want %d", name, r.StatusCode, r.body, want)
	}
	return string(r.body)
}

func profileBody(t *testing.T, syncml string, fields map[string]any) string {
	t.Helper()
	m := map[string]any{"syncml": syncml}
	for k, v := range fields {
		m[k] = v
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

type deviceStates struct {
	Labels     []string `json:"labels"`
	AutoLabels []string `json:"auto_labels"`
	Profiles   []struct {
		Name     string   `json:"name"`
		Version  string   `json:"version"`
		State    string   `json:"state"`
		Detail   string   `json:"detail"`
		Attempts int      `json:"attempts"`
		Failures []string `json:"failures"`
	} `json:"profiles"`
}

func (s *server) states(t *testing.T, d *fleetDevice) deviceStates {
	t.Helper()
	r := s.admin(http.MethodGet, "/mdm/devices/"+d.id+"/profiles", "")
	var v deviceStates
	if r.StatusCode != http.StatusOK || json.Unmarshal(r.body, &v) != nil {
		t.Fatalf("device profiles: %d %s", r.StatusCode, r.body)
	}
	// The device's own page carries the same labels and states at its top
	// level.
	r = s.admin(http.MethodGet, "/mdm/devices/"+d.id, "")
	var top deviceStates
	if r.StatusCode != http.StatusOK || json.Unmarshal(r.body, &top) != nil {
		t.Fatalf("device: %d %s", r.StatusCode, r.body)
	}
	if !slices.Equal(top.Labels, v.Labels) || !slices.Equal(top.AutoLabels, v.AutoLabels) || len(top.Profiles) != len(v.Profiles) {
		t.Errorf("GET /mdm/devices/%s: labels %v %v, %d profiles; /profiles: %v %v, %d", d.id, top.Labels, top.AutoLabels, len(top.Profiles), v.Labels, v.AutoLabels, len(v.Profiles))
	}
	return v
}

// stateOf returns the device's state of a profile ("" when it has none).
func (s *server) stateOf(t *testing.T, d *fleetDevice, name string) (state, detail string, attempts int) {
	t.Helper()
	for _, p := range s.states(t, d).Profiles {
		if p.Name == name {
			return p.State, p.Detail, p.Attempts
		}
	}
	return "", "", 0
}

type profileSummary struct {
	Profile struct {
		Version string `json:"version"`
	} `json:"profile"`
	Summary struct {
		Targeted int            `json:"targeted"`
		Counts   map[string]int `json:"counts"`
	} `json:"summary"`
}

func (s *server) summary(t *testing.T, name string) profileSummary {
	t.Helper()
	r := s.admin(http.MethodGet, "/mdm/profiles/"+name, "")
	var v profileSummary
	if r.StatusCode != http.StatusOK || json.Unmarshal(r.body, &v) != nil {
		t.Fatalf("GET profile %s: %d %s", name, r.StatusCode, r.body)
	}
	return v
}

// executedLine is the emulator's list of what the device carried out.
func executedLine(out string) string {
	i := strings.LastIndex(out, "executed:")
	if i < 0 {
		return ""
	}
	line := out[i:]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return line
}

// TestProfilesEndToEnd drives fleet management through a real Caddy and
// emulated devices: targeting by label, delivery at the next session, a
// device enrolled later, failures with retries, variables, edits,
// removal that spares LocURIs another profile sets, label removal, a
// Delete the device refuses, and conflicts.
func TestProfilesEndToEnd(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	var devs []*fleetDevice
	for i := 0; i < 3; i++ {
		d := s.enrollFleetDevice(t)
		s.fleetSession(t, d) // a first session with nothing to do
		devs = append(devs, d)
	}
	a, b, c := devs[0], devs[1], devs[2]
	s.label(t, a, "add", "finance")
	s.label(t, b, "add", "Finance") // labels are case-insensitive

	// Apply a profile to finance with the CLI; a second one (API) sets a
	// per-device value with variables.
	camera := filepath.Join(t.TempDir(), "camera.xml")
	if err := os.WriteFile(camera, []byte(replaceXML(cameraURI, "int", "0")+replaceXML(deadlineURI, "int", "3")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := s.cli("profile", "apply", "camera", camera, "--label", "finance", "--retries", "2")
	if err != nil || !strings.Contains(out, "applied camera") || !strings.Contains(out, "2 devices targeted") {
		t.Fatalf("profile apply: %v\n%s", err, out)
	}
	s.putProfile(t, "naming", profileBody(t, replaceXML(nameURI, "chr", "{{.User}} on {{.DeviceID}}"), map[string]any{"include_any": []string{"finance"}}), http.StatusOK)
	if sum := s.summary(t, "camera"); sum.Summary.Targeted != 2 || sum.Summary.Counts["pending"] != 2 {
		t.Errorf("before the sessions: %+v", sum.Summary)
	}

	// Next sessions: exactly the two finance devices get both profiles.
	for _, d := range []*fleetDevice{a, b} {
		ex := executedLine(s.fleetSession(t, d))
		if !strings.Contains(ex, "Replace "+cameraURI) || !strings.Contains(ex, "Replace "+deadlineURI) || !strings.Contains(ex, "Replace "+nameURI) {
			t.Errorf("finance device %s executed: %s", d.id, ex)
		}
		if st, detail, _ := s.stateOf(t, d, "camera"); st != "applied" {
			t.Errorf("device %s camera: %s", d.id, detail)
		}
		dev, err := emulator.LoadDevice(d.state)
		if err != nil || dev.Nodes[nameURI] != quickstartUser+" on "+d.id {
			t.Errorf("variables on %s: %q", d.id, dev.Nodes[nameURI])
		}
	}
	if ex := executedLine(s.fleetSession(t, c)); strings.Contains(ex, "Replace") {
		t.Errorf("device without the label executed: %s", ex)
	}
	if st, _, _ := s.stateOf(t, c, "camera"); st != "" {
		t.Errorf("device without the label has camera %s", st)
	}
	if sum := s.summary(t, "camera"); sum.Summary.Counts["applied"] != 2 || sum.Summary.Counts["pending"] != 0 {
		t.Errorf("after the sessions: %+v", sum.Summary)
	}
	// A further session delivers nothing again.
	if ex := executedLine(s.fleetSession(t, a)); strings.Contains(ex, "Replace") {
		t.Errorf("applied profile delivered again: %s", ex)
	}

	// A device enrolled afterwards with the label gets it at its first session.
	d := s.enrollFleetDevice(t)
	s.label(t, d, "add", "finance")
	if ex := executedLine(s.fleetSession(t, d)); !strings.Contains(ex, "Replace "+cameraURI) {
		t.Errorf("new finance device's first session: %s", ex)
	}
	if st, detail, _ := s.stateOf(t, d, "camera"); st != "applied" {
		t.Errorf("new device: %s", detail)
	}

	// A device answering 405 for the camera: failed with code and LocURI,
	// retried twice (retries 2) in later sessions, then left failed.
	e := s.enrollFleetDevice(t)
	s.label(t, e, "add", "finance")
	fail405 := []string{"--fail-uri", cameraURI + "=405"}
	for attempt := 1; attempt <= 3; attempt++ {
		ex := executedLine(s.fleetSession(t, e, fail405...))
		if !strings.Contains(ex, "Replace "+cameraURI+" refused with 405") {
			t.Errorf("attempt %d executed: %s", attempt, ex)
		}
		st, detail, n := s.stateOf(t, e, "camera")
		if st != "failed" || n != attempt || !strings.Contains(detail, "405 on "+cameraURI) {
			t.Errorf("attempt %d: %s (attempts %d)", attempt, detail, n)
		}
	}
	if ex := executedLine(s.fleetSession(t, e, fail405...)); strings.Contains(ex, cameraURI) {
		t.Errorf("retried beyond the limit: %s", ex)
	}
	if st, _, n := s.stateOf(t, e, "camera"); st != "failed" || n != 3 {
		t.Errorf("after the retries: %s after %d", st, n)
	}
	show, err := s.cli("profile", "show", "camera")
	if err != nil || !strings.Contains(show, e.id+"  405 on "+cameraURI+" (attempt 3)") || !strings.Contains(show, "Failing devices:") {
		t.Errorf("profile show: %v\n%s", err, show)
	}
	r := s.admin(http.MethodGet, "/mdm/profiles/camera/devices?state=failed", "")
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"405 on `+cameraURI+`"`) || strings.Contains(string(r.body), a.id) {
		t.Errorf("failed devices: %d %s", r.StatusCode, r.body)
	}

	// Editing the profile re-delivers it.
	if err := os.WriteFile(camera, []byte(replaceXML(cameraURI, "int", "0")+replaceXML(deadlineURI, "int", "4")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := s.cli("profile", "apply", "camera", camera, "--label", "finance", "--retries", "2"); err != nil {
		t.Fatalf("profile apply (edit): %v\n%s", err, out)
	}
	if sum := s.summary(t, "camera"); sum.Summary.Counts["applied"] != 0 || sum.Summary.Counts["pending"] != 4 {
		t.Errorf("after the edit: %+v", sum.Summary)
	}
	if ex := executedLine(s.fleetSession(t, a)); !strings.Contains(ex, "Replace "+deadlineURI) {
		t.Errorf("edited profile not re-delivered: %s", ex)
	}
	if dev, _ := emulator.LoadDevice(a.state); dev.Nodes[deadlineURI] != "4" {
		t.Errorf("deadline on the device after the edit: %q", dev.Nodes[deadlineURI])
	}

	// A second profile sets the camera to the same value (no conflict);
	// a different value is refused with 409 naming the profile and LocURI.
	s.putProfile(t, "camera-off", profileBody(t, replaceXML(cameraURI, "int", "0"), map[string]any{"include_any": []string{"finance", "lab"}}), http.StatusOK)
	conflict := s.putProfile(t, "camera-on", profileBody(t, replaceXML(cameraURI, "int", "1"), map[string]any{"include_any": []string{"lab"}}), http.StatusConflict)
	if !strings.Contains(conflict, "camera") || !strings.Contains(conflict, cameraURI) {
		t.Errorf("conflict message: %s", conflict)
	}
	// Disjoint targets do not conflict.
	s.putProfile(t, "camera-on", profileBody(t, replaceXML(cameraURI, "int", "1"), map[string]any{"include_any": []string{"kiosk"}, "exclude_any": []string{"finance", "lab"}}), http.StatusOK)
	// Targets on another admin label: a conflict only while a device
	// carries both labels. None does, so accepted; labelling A (finance)
	// hr is then refused with 409 naming the profiles and the LocURI.
	s.putProfile(t, "camera-on-hr", profileBody(t, replaceXML(cameraURI, "int", "1"), map[string]any{"include_any": []string{"hr"}}), http.StatusOK)
	if r := s.admin(http.MethodPut, "/mdm/devices/"+a.id+"/labels/hr", ""); r.StatusCode != http.StatusConflict ||
		!strings.Contains(string(r.body), `\"camera`) || !strings.Contains(string(r.body), "camera-on-hr") || !strings.Contains(string(r.body), cameraURI) {
		t.Errorf("hr label on a finance device: %d %s", r.StatusCode, r.body)
	}
	if out, err := s.cli("profile", "delete", "camera-on-hr"); err != nil {
		t.Fatalf("profile delete: %v\n%s", err, out)
	}
	s.fleetSession(t, a) // camera-off applied on A

	// Deleting camera sends Delete only for the LocURI no other profile sets.
	if out, err := s.cli("profile", "delete", "camera"); err != nil {
		t.Fatalf("profile delete: %v\n%s", err, out)
	}
	ex := executedLine(s.fleetSession(t, a))
	if !strings.Contains(ex, "Delete "+deadlineURI) || strings.Contains(ex, "Delete "+cameraURI) {
		t.Errorf("removal on delete: %s", ex)
	}
	if dev, _ := emulator.LoadDevice(a.state); dev.Nodes[cameraURI] != "0" {
		t.Errorf("camera setting of camera-off deleted: %q", dev.Nodes[cameraURI])
	}
	s.fleetSession(t, a)
	if st, _, _ := s.stateOf(t, a, "camera"); st != "" {
		t.Errorf("deleted profile still on the device: %s", st)
	}

	// Removing B's label removes its profiles; the device refuses the
	// Delete of the camera setting: removed, setting left on the device.
	s.fleetSession(t, b) // B gets camera-off first
	s.label(t, b, "remove", "finance")
	ex = executedLine(s.fleetSession(t, b, "--fail-uri", "Delete:"+cameraURI+"=500"))
	if !strings.Contains(ex, "Delete "+cameraURI+" refused with 500") || !strings.Contains(ex, "Delete "+nameURI) {
		t.Errorf("removal on label removal: %s", ex)
	}
	if st, detail, _ := s.stateOf(t, b, "camera-off"); st != "removed" || detail != "removed (setting left on the device: 500)" {
		t.Errorf("camera-off on B: %s", detail)
	}
	if st, detail, _ := s.stateOf(t, b, "naming"); st != "removed" || detail != "removed" {
		t.Errorf("naming on B: %s", detail)
	}
	if dev, _ := emulator.LoadDevice(b.state); dev.Nodes[nameURI] != "" {
		t.Errorf("naming setting left on B: %q", dev.Nodes[nameURI])
	}
	if sum := s.summary(t, "camera-off"); sum.Summary.Counts["removed"] != 1 {
		t.Errorf("camera-off summary: %+v", sum.Summary)
	}

	// `caddy mdm show` and --json listings show them too.
	if out, err := s.cli("show", a.id); err != nil || !strings.Contains(out, "Profile camera-off:") || !strings.Contains(out, "Labels:") {
		t.Errorf("show: %v\n%s", err, out)
	}
	var list struct {
		Profiles []struct {
			Name string `json:"name"`
		} `json:"profiles"`
	}
	if out, err := s.cli("profile", "list", "--json"); err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Profiles) != 3 {
		t.Errorf("profile list --json: %v\n%s", err, out)
	}

	// The device's GET shows its labels and profile states.
	r = s.admin(http.MethodGet, "/mdm/devices/"+a.id, "")
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"labels":["finance"]`) || !strings.Contains(string(r.body), `"name":"camera-off"`) || !strings.Contains(string(r.body), `"auto_labels":["user","os:`) {
		t.Errorf("device GET: %s", r.body)
	}
}

// TestProfileValidationRefusals sends every kind of bad profile through the
// admin API: each is refused with 400 and a message saying what to fix.
func TestProfileValidationRefusals(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	good := replaceXML(cameraURI, "int", "0")
	cases := []struct{ name, syncml, want string }{
		{"malformed", "<Replace><Item>", "not well-formed"},
		{"empty", "   ", "no SyncML"},
		{"no-command", "<!-- nothing -->", "no command"},
		{"get", `<Get><CmdID>1</CmdID><Item><Target><LocURI>./DevDetail/SwV</LocURI></Target></Item></Get>`, "Get reads a value"},
		{"delete", `<Delete><CmdID>1</CmdID><Item><Target><LocURI>` + cameraURI + `</LocURI></Target></Item></Delete>`, "Delete is not a setting"},
		{"cdata", `<Replace><CmdID>1</CmdID><Item><Target><LocURI>` + cameraURI + `</LocURI></Target><Data><![CDATA[0]]></Data></Item></Replace>`, "CDATA"},
		{"get-in-atomic", `<Atomic><CmdID>1</CmdID>` + good + `<Get><CmdID>3</CmdID><Item><Target><LocURI>` + cameraURI + `</LocURI></Target></Item></Get></Atomic>`, "Get inside Atomic"},
		{"root", replaceXML("./DevDetail/Ext/Microsoft/DeviceName", "chr", "x"), "outside ./Device/, ./User/ and ./Vendor/MSFT/"},
		{"size", strings.Repeat(good, 2000), "over the limit"},
		{"variable", replaceXML(nameURI, "chr", "{{.DeviceId}}"), "unknown variable"},
	}
	for _, c := range cases {
		r := s.admin(http.MethodPut, "/mdm/profiles/"+c.name, profileBody(t, c.syncml, map[string]any{"all": true}))
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%s: %d %s, want 400 with %q", c.name, r.StatusCode, r.body, c.want)
		}
	}
	r := s.admin(http.MethodPut, "/mdm/profiles/no-targets", profileBody(t, good, nil))
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.body), "no target") {
		t.Errorf("no targets: %d %s", r.StatusCode, r.body)
	}
	if list := s.admin(http.MethodGet, "/mdm/profiles", ""); !strings.Contains(string(list.body), `"profiles":[]`) {
		t.Errorf("refused profiles stored: %s", list.body)
	}
}

// TestProfilesDir loads a profiles_dir at config load, and a reload
// applies changes: an edited file, a new file, a removed file.
func TestProfilesDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("camera.xml", "<!-- Camera off in finance.\n     @mdm include_any=finance retries=1 -->\n"+replaceXML(cameraURI, "int", "0"))
	write("deadline.xml", "<!-- @mdm all -->\n"+replaceXML(deadlineURI, "int", "3"))
	b, err := os.ReadFile(filepath.Join("..", "caddyfile-examples", "quickstart.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "\t\ttrace_exchanges 20\n", "\t\ttrace_exchanges 20\n\t\tprofiles_dir "+dir+"\n", 1)
	file := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startCaddyFile(t, file)
	list := string(s.admin(http.MethodGet, "/mdm/profiles", "").body)
	if !strings.Contains(list, `"name":"camera"`) || !strings.Contains(list, `"name":"deadline"`) || !strings.Contains(list, `"source":"profiles_dir"`) {
		t.Fatalf("profiles after load: %s", list)
	}
	d := s.enrollFleetDevice(t)
	s.label(t, d, "add", "finance")
	if ex := executedLine(s.fleetSession(t, d)); !strings.Contains(ex, "Replace "+cameraURI) || !strings.Contains(ex, "Replace "+deadlineURI) {
		t.Errorf("profiles_dir profiles not delivered: %s", ex)
	}
	v1 := s.summary(t, "camera").Profile.Version

	// Edit one file, add one, remove one; reload.
	write("camera.xml", "<!-- @mdm include_any=finance -->\n"+replaceXML(cameraURI, "int", "1"))
	write("bitlocker.xml", "<!-- @mdm include_any=finance -->\n"+replaceXML("./Device/Vendor/MSFT/BitLocker/RequireDeviceEncryption", "int", "1"))
	if err := os.Remove(filepath.Join(dir, "deadline.xml")); err != nil {
		t.Fatal(err)
	}
	if out, err := s.reload(file); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	list = string(s.admin(http.MethodGet, "/mdm/profiles", "").body)
	if !strings.Contains(list, `"name":"bitlocker"`) || strings.Contains(list, `"name":"deadline"`) {
		t.Errorf("profiles after reload: %s", list)
	}
	if v2 := s.summary(t, "camera").Profile.Version; v2 == v1 {
		t.Errorf("camera version unchanged by the edit: %s", v2)
	}
	ex := executedLine(s.fleetSession(t, d))
	if !strings.Contains(ex, "Replace "+cameraURI) || !strings.Contains(ex, "Replace ./Device/Vendor/MSFT/BitLocker/RequireDeviceEncryption") || !strings.Contains(ex, "Delete "+deadlineURI) {
		t.Errorf("after reload: %s", ex)
	}

	// A broken file fails the reload and keeps the running profiles.
	write("broken.xml", "<!-- @mdm all -->\n<Get><CmdID>1</CmdID></Get>")
	if out, err := s.reload(file); err == nil || !strings.Contains(string(out), "broken.xml") {
		t.Errorf("reload with a broken file: %v\n%s", err, out)
	}
	// The running config keeps serving the admin API (Caddy moved its admin
	// endpoint to the failed config's routes).
	if r := s.admin(http.MethodGet, "/mdm/profiles", ""); r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"name":"bitlocker"`) {
		t.Errorf("admin API after the failed reload: %d %s", r.StatusCode, r.body)
	}
	if out, err := s.cli("profile", "list"); err != nil || !strings.Contains(out, "bitlocker") {
		t.Errorf("CLI after the failed reload: %v\n%s", err, out)
	}
	// Fixed, the next reload goes through; nothing of the broken file was
	// applied.
	if err := os.Remove(filepath.Join(dir, "broken.xml")); err != nil {
		t.Fatal(err)
	}
	if out, err := s.reload(file); err != nil {
		t.Fatalf("reload after the fix: %v\n%s", err, out)
	}
	if list := string(s.admin(http.MethodGet, "/mdm/profiles", "").body); !strings.Contains(list, `"name":"bitlocker"`) || strings.Contains(list, `"name":"broken"`) {
		t.Errorf("profiles after the fixed reload: %s", list)
	}

	// An edit plus a file that conflicts with a profile made through the
	// API: the reload fails and writes nothing, the edit included.
	v3 := s.summary(t, "camera").Profile.Version
	if r := s.admin(http.MethodPut, "/mdm/profiles/api-bitlocker", `{"syncml":`+strconv.Quote(replaceXML("./Device/Vendor/MSFT/BitLocker/RequireDeviceEncryption", "int", "1"))+`,"all":true}`); r.StatusCode != http.StatusOK {
		t.Fatalf("API profile: %d %s", r.StatusCode, r.body)
	}
	write("camera.xml", "<!-- @mdm include_any=finance -->\n"+replaceXML(cameraURI, "int", "5"))
	write("bitlocker-off.xml", "<!-- @mdm include_any=kiosk -->\n"+replaceXML("./Device/Vendor/MSFT/BitLocker/RequireDeviceEncryption", "int", "0"))
	if out, err := s.reload(file); err == nil || !strings.Contains(string(out), "conflict") {
		t.Errorf("reload with a conflicting file: %v\n%s", err, out)
	}
	if v := s.summary(t, "camera").Profile.Version; v != v3 {
		t.Errorf("the failed reload applied camera's edit: version %s → %s", v3, v)
	}
	if list := string(s.admin(http.MethodGet, "/mdm/profiles", "").body); strings.Contains(list, `"name":"bitlocker-off"`) {
		t.Errorf("the failed reload wrote the conflicting profile: %s", list)
	}
}

// reload runs `caddy reload` as an admin would, without --force (Caddy
// skips a reload whose adapted config is unchanged: the profiles_dir's
// digest in it is what changes when only the files do), with the server's
// environment (the Caddyfile takes its ports from it).
func (s *server) reload(file string) ([]byte, error) {
	cmd := exec.Command(caddyBin, "reload", "--config", file, "--adapter", "caddyfile", "--address", s.adminAddr)
	cmd.Env = s.cmd.Env
	return cmd.CombinedOutput()
}

// TestDeviceActions wipes and reboots a device through the CLI: the
// confirmation flag is required, the commands are delivered as Exec of the
// CSP nodes, and the wipe is in the device's history.
func TestDeviceActions(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	d := s.enrollFleetDevice(t)
	if out, err := s.cli("wipe", d.id); err == nil || !strings.Contains(out, "--yes") {
		t.Errorf("wipe without --yes: %v\n%s", err, out)
	}
	if out, err := s.cli("wipe", d.id, "--yes", "--protected"); err != nil || !strings.Contains(out, "queued wipe") {
		t.Fatalf("wipe: %v\n%s", err, out)
	}
	if out, err := s.cli("reboot", d.id, "--yes"); err != nil {
		t.Fatalf("reboot: %v\n%s", err, out)
	}
	ex := executedLine(s.fleetSession(t, d))
	if !strings.Contains(ex, "Exec ./Device/Vendor/MSFT/RemoteWipe/doWipeProtected") || !strings.Contains(ex, "Exec ./Device/Vendor/MSFT/Reboot/RebootNow") {
		t.Errorf("actions executed: %s", ex)
	}
	r := s.admin(http.MethodGet, "/mdm/devices/"+d.id+"/actions", "")
	var h struct {
		Actions []struct {
			Action string `json:"action"`
			State  string `json:"state"`
			Status int    `json:"status"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(r.body, &h); err != nil || len(h.Actions) != 2 || h.Actions[0].Action != "wipe-protected" || h.Actions[0].State != "acknowledged" || h.Actions[0].Status != 200 {
		t.Errorf("action history: %s", r.body)
	}
	if cmds, err := s.cli("commands", d.id); err != nil || strings.Count(cmds, "acknowledged") != 2 {
		t.Errorf("commands: %v\n%s", err, cmds)
	}
}
