package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The quickstart's demo console login.
const (
	consoleUser     = "admin"
	consolePassword = "admin-password"
)

// consoleBrowser starts a headless Chromium (Debian's) for one test, sending
// extraHeaders (e.g. basic auth) with every request.
func consoleBrowser(t *testing.T, extraHeaders map[string]any) context.Context {
	t.Helper()
	exe := requireTool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers(extraHeaders)}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// runB runs browser steps in order, failing the test at the first error.
func runB(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// textOf is the visible text of the element a CSS selector names.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// Screenshots: screenshot (federated_login_test.go) saves a PNG in the
// test's temp dir and fails when it is one colour all over.

// waitLocation waits until the page's URL contains want: a form's
// submission navigates after the click returns.
func waitLocation(t *testing.T, ctx context.Context, want string) string {
	t.Helper()
	for i := 0; ; i++ {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err == nil && strings.Contains(loc, want) {
			return loc
		}
		if i == 200 {
			t.Fatalf("the browser never reached a URL with %q (at %s, %v)", want, loc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consoleBase is the quickstart console's URL; it waits for the site.
func consoleBase(t *testing.T, s *server) string {
	t.Helper()
	base := fmt.Sprintf("http://localhost:%d", s.consolePort)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("console not answering: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// storedStates counts the devices per state through the admin API (the
// store's listing).
func storedStates(t *testing.T, s *server) map[string]int {
	t.Helper()
	r := s.admin(http.MethodGet, "/mdm/devices?limit=1000", "")
	var list struct {
		Devices []struct {
			State string `json:"state"`
		} `json:"devices"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("devices: %v %s", err, r.body)
	}
	out := map[string]int{"total": len(list.Devices)}
	for _, d := range list.Devices {
		out[d.State]++
	}
	return out
}

func deviceState(t *testing.T, s *server, id string) (state, reason string) {
	t.Helper()
	r := s.admin(http.MethodGet, "/mdm/devices/"+id, "")
	var d struct {
		Device struct {
			State       string `json:"state"`
			StateReason string `json:"state_reason"`
		} `json:"device"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatalf("device %s: %v %s", id, err, r.body)
	}
	return d.Device.State, d.Device.StateReason
}

// TestConsole drives the quickstart's console in headless Chromium against
// emulated devices: the overview's numbers are the store's, search finds a
// device, a device page shows inventory, trace and commands, a Get queued
// from the page reaches the device's next session and its result shows,
// retirement waits for its confirmation, and every page screenshots as
// something.
func TestConsole(t *testing.T) {
	requireTool(t, "chromium")
	s := startCaddy(t, "quickstart.Caddyfile")
	base := consoleBase(t, s)
	shots := t.TempDir()
	if dir := os.Getenv("MDM_CONSOLE_SCREENSHOTS"); dir != "" {
		shots = dir // keep them to look at
	}

	// Three devices: A and B enrolled (with a first session), C enrolled
	// and disconnected by its user.
	stateA := t.TempDir()
	out, err := s.emulate("--state", stateA)
	idA := mustPass(t, "device A", out, err)
	out, err = s.emulate("--state", t.TempDir())
	idB := mustPass(t, "device B", out, err)
	out, err = s.emulate("--sessions", "2", "--unenroll")
	idC := mustPass(t, "device C", out, err)

	auth := "Basic " + basicAuth(consoleUser, consolePassword)
	ctx := consoleBrowser(t, map[string]any{"Authorization": auth})

	// Overview: the numbers are the store's.
	want := storedStates(t, s)
	if want["total"] != 3 || want["enrolled"] != 2 || want["unenrolled"] != 1 {
		t.Fatalf("store states %v", want)
	}
	runB(t, ctx, "overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#total")))
	for sel, n := range map[string]int{"#total": want["total"], "#count-enrolled": want["enrolled"], "#count-unenrolled": want["unenrolled"], "#count-retired": want["retired"], "#enrolled-90": want["total"]} {
		if got := strings.Fields(textOf(t, ctx, sel)); len(got) == 0 || got[0] != strconv.Itoa(n) {
			t.Errorf("overview %s = %q, store says %d", sel, got, n)
		}
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(html, "<svg") != 3 || !strings.Contains(html, "&lt; 1 h: 2</title>") {
		t.Errorf("overview charts: %d svg, last seen bucket missing\n%s", strings.Count(html, "<svg"), html)
	}
	if got := textOf(t, ctx, "#user"); got != consoleUser {
		t.Errorf("signed in as %q", got)
	}
	screenshot(t, ctx, shots, "overview")

	// Search by part of A's ID, typed into the form.
	part := strings.ToLower(idA[4:14])
	runB(t, ctx, "search",
		chromedp.Navigate(base+"/devices"), chromedp.WaitVisible(chromedp.CSS("#search")),
		chromedp.SendKeys(chromedp.CSS(`#search input[name="q"]`), part),
		chromedp.Submit(chromedp.CSS(`#search input[name="q"]`)))
	loc := waitLocation(t, ctx, "q="+part)
	runB(t, ctx, "results", chromedp.WaitVisible(chromedp.CSS(`#devices`)))
	list := textOf(t, ctx, "#devices")
	if !strings.Contains(loc, "q="+part) || !strings.Contains(list, idA) || strings.Contains(list, idB) || strings.Contains(list, idC) {
		t.Errorf("search %q at %s found:\n%s", part, loc, list)
	}
	runB(t, ctx, "list all", chromedp.Navigate(base+"/devices"), chromedp.WaitVisible(chromedp.CSS("#devices")))
	if list = textOf(t, ctx, "#devices"); !strings.Contains(list, idA) || !strings.Contains(list, idB) || !strings.Contains(list, idC) {
		t.Errorf("device list:\n%s", list)
	}
	screenshot(t, ctx, shots, "devices")

	// A's page: record, inventory, trace.
	runB(t, ctx, "device page", chromedp.Navigate(base+"/devices/"+idA), chromedp.WaitVisible(chromedp.CSS("#record")))
	if rec := textOf(t, ctx, "#record"); !strings.Contains(rec, idA) || !strings.Contains(rec, "enrolled") || !strings.Contains(rec, quickstartUser) {
		t.Errorf("record:\n%s", rec)
	}
	if inv := textOf(t, ctx, "#inventory"); !strings.Contains(inv, "./DevInfo/Man") || !strings.Contains(inv, "VMware, Inc.") {
		t.Errorf("inventory:\n%s", inv)
	}
	// Older exchanges are folded (<details>): read the text, shown or not.
	tr, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#trace")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tr, "management") || !strings.Contains(tr, "<SyncML") || !strings.Contains(tr, "Alert 1201") {
		t.Errorf("trace:\n%.3000s", tr)
	}
	if !strings.Contains(tr, "RequestSecurityTokenResponse") || !strings.Contains(tr, "CertificateStore/") || !strings.Contains(tr, "REDACTED") {
		t.Errorf("trace lacks the enrollment with its decoded provisioning document and certificates (secrets REDACTED):\n%.3000s", tr)
	}
	for _, secret := range deviceSecrets(t, s, idA) {
		if strings.Contains(tr, secret) {
			t.Errorf("trace shows a secret of the device")
		}
	}

	// Queue a Get from the page; the device's next session runs it.
	runB(t, ctx, "queue Get",
		chromedp.SetValue(chromedp.CSS("#verb"), "Get"),
		chromedp.SendKeys(chromedp.CSS("#target"), "./DevDetail/SwV"),
		chromedp.Click(chromedp.CSS("#queue")),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	if cmds := textOf(t, ctx, "#commands"); !strings.Contains(cmds, "Get ./DevDetail/SwV") || !strings.Contains(cmds, "queued") {
		t.Fatalf("commands after queuing:\n%s", cmds)
	}
	if !s.logs.waitFor(`"msg":"command queued"`) || !strings.Contains(s.logs.String(), `"by":"admin"`) {
		t.Errorf("the change is not logged with its user:\n%s", s.logs.String())
	}
	out, err = s.emulate("--state", stateA)
	mustPass(t, "A's next session", out, err)
	if !strings.Contains(out, "executed: Get ./DevDetail/SwV") {
		t.Errorf("the session did not run the Get:\n%s", out)
	}
	runB(t, ctx, "reload", chromedp.Navigate(base+"/devices/"+idA), chromedp.WaitVisible(chromedp.CSS("#commands")))
	if cmds := textOf(t, ctx, "#commands"); !strings.Contains(cmds, "acknowledged") || !strings.Contains(cmds, "./DevDetail/SwV = 10.0.19043.2364") || !strings.Contains(cmds, "200") {
		t.Errorf("result not on the page:\n%s", cmds)
	}
	screenshot(t, ctx, shots, "device")

	// Wipe A: behind its confirmation too, then queued like any command.
	runB(t, ctx, "wipe button", chromedp.Click(chromedp.CSS("#wipe")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	if n := len(commandsOf(t, s, idA)); n != 1 {
		t.Fatalf("commands before the wipe's confirmation: %d", n)
	}
	runB(t, ctx, "confirm wipe", chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if cmds := textOf(t, ctx, "#commands"); !strings.Contains(cmds, "Exec ./Device/Vendor/MSFT/RemoteWipe/doWipe") || !strings.Contains(cmds, "queued") {
		t.Errorf("wipe not queued:\n%s", cmds)
	}
	if !s.logs.waitFor(`"msg":"device action queued"`) {
		t.Error("wipe not logged")
	}
	if h := textOf(t, ctx, "#action-history"); !strings.Contains(h, "wipe") || !strings.Contains(h, "queued") {
		t.Errorf("wipe history:\n%s", h)
	}

	// Retire B: the button leads to a confirmation; nothing happens before.
	runB(t, ctx, "retire button",
		chromedp.Navigate(base+"/devices/"+idB), chromedp.WaitVisible(chromedp.CSS("#retire")),
		chromedp.Click(chromedp.CSS("#retire")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	if st, _ := deviceState(t, s, idB); st != "enrolled" {
		t.Fatalf("B is %s before the confirmation", st)
	}
	screenshot(t, ctx, shots, "confirm")
	runB(t, ctx, "confirm retire",
		chromedp.SendKeys(chromedp.CSS(`#confirm input[name="reason"]`), "stolen"),
		chromedp.Click(chromedp.CSS("#confirm-button")),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	if st, reason := deviceState(t, s, idB); st != "retired" || reason != "retired by an admin: stolen" {
		t.Errorf("B after the confirmation: %s %q", st, reason)
	}
	if rec := textOf(t, ctx, "#record"); !strings.Contains(rec, "retired by an admin: stolen") {
		t.Errorf("record after retirement:\n%s", rec)
	}
	if !s.logs.waitFor(`"msg":"device retired"`) {
		t.Error("retirement not logged")
	}
	runB(t, ctx, "overview after", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#total")))
	if got := strings.Fields(textOf(t, ctx, "#count-retired")); len(got) == 0 || got[0] != "1" {
		t.Errorf("retired count %q", got)
	}

	// POSTs outside the console's own forms are refused, and change nothing.
	// (A's commands: the Get and the wipe.)
	before := len(commandsOf(t, s, idA))
	form := url.Values{"verb": {"Get"}, "target": {"./DevDetail/SwV"}}
	if code := consolePost(t, base+"/devices/"+idA+"/commands", auth, form, ""); code != http.StatusForbidden {
		t.Errorf("POST without a CSRF token: %d", code)
	}
	form.Set("csrf", "AAAA")
	if code := consolePost(t, base+"/devices/"+idA+"/commands", auth, form, "mdm_console=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); code != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: %d", code)
	}
	if n := len(commandsOf(t, s, idA)); n != before {
		t.Errorf("refused POSTs queued commands: %d -> %d", before, n)
	}
	if !s.logs.waitFor(`"msg":"console request refused"`) {
		t.Error("refusal not logged")
	}
	// No credentials: basic_auth in front refuses before the console.
	if resp, err := http.Get(base + "/devices/" + idA); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no credentials: %v %v", resp, err)
	}
}

// consolePost posts a form as a script elsewhere would, with the admin's
// credentials, and returns the status.
func consolePost(t *testing.T, u, auth string, form url.Values, cookie string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", auth)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func commandsOf(t *testing.T, s *server, id string) []json.RawMessage {
	t.Helper()
	var list struct {
		Commands []json.RawMessage `json:"commands"`
	}
	r := s.admin(http.MethodGet, "/mdm/devices/"+id+"/commands", "")
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("commands: %v %s", err, r.body)
	}
	return list.Commands
}

// deviceSecrets are the digest secrets stored for a device, read from
// Caddy's file storage.
func deviceSecrets(t *testing.T, s *server, id string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir(), "mdm", "devices", id, "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Digest struct {
			ClientSecret string `json:"client_secret"`
			ServerSecret string `json:"server_secret"`
		} `json:"digest"`
	}
	if err := json.Unmarshal(b, &d); err != nil || d.Digest.ServerSecret == "" {
		t.Fatalf("record of %s: %v", id, err)
	}
	return []string{d.Digest.ClientSecret, d.Digest.ServerSecret}
}

func basicAuth(user, password string) string {
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	r.SetBasicAuth(user, password)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// TestConsoleProfiles manages a profile from the console: a label set on
// a device's page, a profile applied to it from the profiles page, its
// failure (the device answers 405) shown with the code and LocURI on the
// profile's and the device's pages, an edit, and a deletion behind its
// confirmation.
func TestConsoleProfiles(t *testing.T) {
	requireTool(t, "chromium")
	s := startCaddy(t, "quickstart.Caddyfile")
	base := consoleBase(t, s)
	shots := t.TempDir()
	if dir := os.Getenv("MDM_CONSOLE_SCREENSHOTS"); dir != "" {
		shots = dir // keep them to look at
	}
	a := s.enrollFleetDevice(t)
	b := s.enrollFleetDevice(t)
	ctx := consoleBrowser(t, map[string]any{"Authorization": "Basic " + basicAuth(consoleUser, consolePassword)})

	// Label A "finance" on its page.
	runB(t, ctx, "add label",
		chromedp.Navigate(base+"/devices/"+a.id), chromedp.WaitVisible(chromedp.CSS("#label-form")),
		chromedp.SendKeys(chromedp.CSS("#new-label"), "finance"),
		chromedp.Click(chromedp.CSS("#add-label")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if l := textOf(t, ctx, "#labels"); !strings.Contains(l, "finance") {
		t.Errorf("labels after adding:\n%s", l)
	}
	// Each remove button sits in its own label, as the browser lays it out
	// (a form inside a paragraph used to be pushed out of it).
	inLabel, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`!!document.querySelector('#labels span.label button[title="remove finance"]')`))
	if err != nil {
		t.Fatal(err)
	}
	if !inLabel {
		t.Error("the remove button of label finance is not inside its label")
	}
	if v := s.admin(http.MethodGet, "/mdm/devices/"+a.id+"/profiles", ""); !strings.Contains(string(v.body), `"labels":["finance"]`) {
		t.Errorf("stored labels: %s", v.body)
	}
	if !s.logs.waitFor(`"msg":"device label changed"`) {
		t.Error("label change not logged")
	}

	// Apply camera-off to finance from the profiles page.
	runB(t, ctx, "new profile",
		chromedp.Navigate(base+"/profiles"), chromedp.WaitVisible(chromedp.CSS("#profile-form")),
		chromedp.SendKeys(chromedp.CSS("#profile-name"), "camera-off"),
		chromedp.SetValue(chromedp.CSS("#profile-syncml"), replaceXML(cameraURI, "int", "0")),
		chromedp.SendKeys(chromedp.CSS("#profile-include"), "finance"),
		chromedp.Click(chromedp.CSS("#profile-save")))
	waitLocation(t, ctx, "/profiles/camera-off")
	runB(t, ctx, "profile page", chromedp.WaitVisible(chromedp.CSS("#profile-summary")))
	if got := textOf(t, ctx, "#targeted"); got != "1" {
		t.Errorf("targeted %q, want 1", got)
	}
	if sum := s.summary(t, "camera-off"); sum.Summary.Targeted != 1 || sum.Summary.Counts["pending"] != 1 {
		t.Errorf("stored summary %+v", sum.Summary)
	}
	screenshot(t, ctx, shots, "profile")

	// A refuses the setting: the failure shows with its code and LocURI.
	s.fleetSession(t, a, "--fail-uri", cameraURI+"=405")
	s.fleetSession(t, b)
	want := "405 on " + cameraURI
	runB(t, ctx, "profile after the session", chromedp.Navigate(base+"/profiles/camera-off"), chromedp.WaitVisible(chromedp.CSS("#profile-devices")))
	if devs := textOf(t, ctx, "#profile-devices"); !strings.Contains(devs, a.id) || !strings.Contains(devs, want) || strings.Contains(devs, b.id) {
		t.Errorf("profile devices:\n%s", devs)
	}
	if c := textOf(t, ctx, "#profile-counts"); c != "0 / 1 / 0" {
		t.Errorf("applied / failed / pending = %q", c)
	}
	runB(t, ctx, "device profiles", chromedp.Navigate(base+"/devices/"+a.id), chromedp.WaitVisible(chromedp.CSS("#profiles")))
	if p := textOf(t, ctx, "#profiles"); !strings.Contains(p, "camera-off") || !strings.Contains(p, want) {
		t.Errorf("device's profile states:\n%s", p)
	}
	runB(t, ctx, "overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#profile-camera-off")))
	if row := strings.Fields(textOf(t, ctx, "#profile-camera-off")); len(row) < 4 || row[len(row)-3] != "0" || row[len(row)-2] != "1" {
		t.Errorf("overview profile row %q (applied, failed, pending)", row)
	}

	// An edit makes a new version; a bad one is refused with the reason.
	v1 := s.summary(t, "camera-off").Profile.Version
	runB(t, ctx, "edit",
		chromedp.Navigate(base+"/profiles/camera-off"), chromedp.WaitVisible(chromedp.CSS("#profile-form")),
		chromedp.SetValue(chromedp.CSS("#profile-syncml"), replaceXML(cameraURI, "int", "1")),
		chromedp.Click(chromedp.CSS("#profile-save")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if v2 := s.summary(t, "camera-off").Profile.Version; v2 == v1 || v2 == "" {
		t.Errorf("version after the edit: %q (was %q)", v2, v1)
	}
	runB(t, ctx, "bad edit",
		chromedp.SetValue(chromedp.CSS("#profile-syncml"), "<Get><Item><Target><LocURI>./DevDetail/SwV</LocURI></Target></Item></Get>"),
		chromedp.Click(chromedp.CSS("#profile-save")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := textOf(t, ctx, "#error"); !strings.Contains(msg, "Get") {
		t.Errorf("refusal message: %q", msg)
	}

	// Deletion behind its confirmation.
	runB(t, ctx, "delete",
		chromedp.Navigate(base+"/profiles/camera-off"), chromedp.WaitVisible(chromedp.CSS("#delete-profile")),
		chromedp.Click(chromedp.CSS("#delete-profile")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	if r := s.admin(http.MethodGet, "/mdm/profiles/camera-off", ""); r.StatusCode != http.StatusOK {
		t.Fatalf("profile gone before the confirmation: %d", r.StatusCode)
	}
	runB(t, ctx, "confirm delete", chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if r := s.admin(http.MethodGet, "/mdm/profiles/camera-off", ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("profile after the confirmed deletion: %d", r.StatusCode)
	}
	if !s.logs.waitFor(`"msg":"profile deleted"`) || !strings.Contains(s.logs.String(), `"profile":"camera-off","by":"admin"`) {
		t.Error("deletion not logged with its user")
	}
	screenshot(t, ctx, shots, "profiles")
}

// TestConsoleNeedsAuthentication: a console with no authentication in
// front answers 403 with how to configure one; behind forward_auth the
// user is the header the identity service returned (a client's own copy
// of that header is dropped), and client certificate placeholders count
// only for a verified certificate.
func TestConsoleNeedsAuthentication(t *testing.T) {
	ports := map[string]int{"AUTH_PORT": freePort(t), "FORWARD_PORT": freePort(t), "CERT_PORT": freePort(t), "VERIFIED_PORT": freePort(t), "PREFIX_PORT": freePort(t)}
	var env []string
	for k, v := range ports {
		env = append(env, fmt.Sprintf("%s=%d", k, v))
	}
	s := startCaddyFile(t, "testdata/console-auth.Caddyfile", env...)
	open := fmt.Sprintf("http://localhost:%d", s.consolePort)
	get := func(u string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/", "/devices", "/profiles"} {
		code, body := get(open+path, nil)
		if code != http.StatusForbidden || !strings.Contains(body, "basic_auth") || !strings.Contains(body, "forward_auth") || strings.Contains(body, "Fleet overview") {
			t.Errorf("GET %s without authentication: %d\n%s", path, code, body)
		}
	}
	// A header alone is not a user: the console reads no header unless told.
	if code, _ := get(open+"/", map[string]string{"Remote-User": "mallory", "Authorization": "Basic " + basicAuth("mallory", "x")}); code != http.StatusForbidden {
		t.Errorf("spoofed identity: %d", code)
	}
	// A POST is refused the same way, token or not.
	if code := consolePost(t, open+"/devices/X/retire", "", url.Values{"confirm": {"X"}}, ""); code != http.StatusForbidden {
		t.Errorf("POST without authentication: %d", code)
	}
	if !s.logs.waitFor(`"reason":"no authenticated user"`) {
		t.Error("refusal not logged")
	}

	// forward_auth: the identity service (a site of the same Caddy) says
	// who carol is; a request it refuses never reaches the console.
	fwd := fmt.Sprintf("http://localhost:%d", ports["FORWARD_PORT"])
	code, body := get(fwd+"/", map[string]string{"X-Test-Login": "carol"})
	if code != http.StatusOK || !strings.Contains(body, `id="user">carol<`) {
		t.Errorf("behind forward_auth as carol: %d\n%.2000s", code, body)
	}
	if code, _ := get(fwd+"/", map[string]string{"Remote-User": "mallory"}); code != http.StatusUnauthorized {
		t.Errorf("forward_auth without a login, Remote-User spoofed: %d", code)
	}
	if code, body := get(fwd+"/", map[string]string{"X-Test-Login": "carol", "Remote-User": "mallory"}); code != http.StatusOK || strings.Contains(body, "mallory") {
		t.Errorf("carol with a spoofed Remote-User: %d, mallory shown: %v", code, strings.Contains(body, "mallory"))
	}

	// Under handle_path, links, forms and the cookie keep the prefix.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:%d/console/devices", ports["PREFIX_PORT"]), nil)
	req.SetBasicAuth(consoleUser, consolePassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `href="/console/static/console.css"`) || !strings.Contains(string(b), `action="/console/devices"`) {
		t.Errorf("console under /console/: %d\n%.1500s", resp.StatusCode, b)
	}
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "Path=/console/") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") {
		t.Errorf("cookie %q", c)
	}

	// Client certificates: a device certificate of the device CA stands in
	// for an admin certificate. Merely requested (mode request), it is no
	// user; verified (require_and_verify), its subject is.
	dev := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	certGet := func(port int) (int, string) {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots, ServerName: "localhost", Certificates: []tls.Certificate{dev.cert}}}}
		resp, err := c.Get(fmt.Sprintf("https://localhost:%d/", port))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := certGet(ports["CERT_PORT"]); code != http.StatusForbidden {
		t.Errorf("unverified client certificate: %d", code)
	}
	if code, body := certGet(ports["VERIFIED_PORT"]); code != http.StatusOK || !strings.Contains(body, `id="user">CN=`+deviceA+`<`) {
		t.Errorf("verified client certificate: %d\n%.2000s", code, body)
	}
}
