package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// fakeBackend records the changes asked of it.
type fakeBackend struct {
	devices  []*store.Device
	counts   *store.DeviceCounts
	queued   []store.CommandSpec
	retired  []string
	by       []string
	unenroll []string
	wiped    []bool
	labels   []string
	profiles map[string]*store.Profile
	saved    []profile.Edit
	deleted  []string
}

func (f *fakeBackend) FindLabeledDevices(ctx context.Context, label string, state store.DeviceState, match store.DeviceMatch, after string, limit int) ([]*store.Device, string, error) {
	return f.FindDevices(ctx, state, func(d *store.Device) bool { return d.DeviceName == "LAPTOP-B" && label == "finance" && match(d) }, after, limit)
}
func (f *fakeBackend) DeviceFleet(_ context.Context, id string) (*profile.DeviceView, error) {
	return &profile.DeviceView{Labels: []string{"finance"}, AutoLabels: []string{"user", "os:10.0.19043"},
		Profiles: []profile.DeviceProfile{{Name: "camera-off", DeviceStatus: profile.DeviceStatus{DeviceID: id, State: "failed",
			Detail: "failed (405 on ./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera)", Failures: []string{"405 on ./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera"}}}}}, nil
}
func (f *fakeBackend) ChangeLabel(_ context.Context, id, label string, add bool, by string) error {
	f.labels = append(f.labels, fmt.Sprint(id, " ", label, " ", add, " ", by))
	return nil
}
func (f *fakeBackend) Profiles(context.Context) ([]*store.ProfileMeta, error) {
	var out []*store.ProfileMeta
	for _, p := range f.profiles {
		out = append(out, &store.ProfileMeta{Name: p.Name, Version: p.Version, Targets: p.Targets})
	}
	return out, nil
}
func (f *fakeBackend) Profile(_ context.Context, name string) (*store.Profile, error) {
	if p := f.profiles[name]; p != nil {
		return p, nil
	}
	return nil, &Error{Status: http.StatusNotFound, Msg: "no profile " + name}
}
func (f *fakeBackend) ProfileSummary(_ context.Context, name string) (*profile.Summary, error) {
	return &profile.Summary{Targeted: 2, Counts: map[string]int{"applied": 1, "failed": 1}}, nil
}
func (f *fakeBackend) ProfileDevices(_ context.Context, name, state, after string, limit int) (*profile.DevicePage, error) {
	return &profile.DevicePage{Devices: []profile.DeviceStatus{{DeviceID: devID, State: "failed", Detail: "failed (405 on ./Device/X)", Failures: []string{"405 on ./Device/X"}}}}, nil
}
func (f *fakeBackend) SaveProfile(_ context.Context, name string, req profile.Edit, by string) (*store.Profile, bool, error) {
	if !strings.HasPrefix(req.SyncML, "<Replace>") {
		return nil, false, &Error{Status: http.StatusBadRequest, Msg: "profile " + name + ": no command"}
	}
	f.saved = append(f.saved, req)
	return &store.Profile{Name: name}, true, nil
}
func (f *fakeBackend) DeleteProfile(_ context.Context, name, by string) error {
	f.deleted = append(f.deleted, name+" by "+by)
	return nil
}

func (f *fakeBackend) Counts(context.Context) (*store.DeviceCounts, error) { return f.counts, nil }
func (f *fakeBackend) FindDevices(_ context.Context, state store.DeviceState, match store.DeviceMatch, after string, limit int) ([]*store.Device, string, error) {
	var out []*store.Device
	for _, d := range f.devices {
		if d.DeviceID > after && (state == "" || d.State == state) && match(d) {
			out = append(out, d)
			if len(out) == limit {
				return out, d.DeviceID, nil
			}
		}
	}
	return out, "", nil
}
func (f *fakeBackend) Device(_ context.Context, id string) (*DeviceData, error) {
	for _, d := range f.devices {
		if d.DeviceID == id {
			return &DeviceData{Device: *d, Inventory: store.Inventory{Nodes: map[string]string{"./DevInfo/Man": "Contoso <b>", "./DevInfo/Mod": "Book\u202Elive"}},
				Commands: []CommandData{{Command: &store.Command{ID: "c1", State: store.CommandAcknowledged, Status: 200,
					Results: []store.Result{{Source: "./DevDetail/SwV", Data: "10.0.19043.2364"}}}, Describe: "Get ./DevDetail/SwV"}},
				Trace: &store.Trace{Exchanges: []store.Exchange{{At: time.Now(), Kind: "management", Status: 200,
					Request:  `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><SessionID>1</SessionID><MsgID>1</MsgID></SyncHdr><SyncBody><Final/></SyncBody></SyncML>`,
					Response: "[unparsable body: 3 bytes, sha256 00]"}}}}, nil
		}
	}
	return nil, &Error{Status: http.StatusNotFound, Msg: "no device " + id}
}
func (f *fakeBackend) Enqueue(_ context.Context, id string, spec store.CommandSpec, by string) (*store.Command, error) {
	f.queued, f.by = append(f.queued, spec), append(f.by, by)
	return &store.Command{ID: "0000000000001abcdef01"}, nil
}
func (f *fakeBackend) Cancel(context.Context, string, string, string) error { return nil }
func (f *fakeBackend) Unenroll(_ context.Context, id, by string) (*store.Command, error) {
	f.unenroll = append(f.unenroll, id)
	return &store.Command{ID: "u1"}, nil
}
func (f *fakeBackend) Retire(_ context.Context, id, reason, by string) error {
	f.retired, f.by = append(f.retired, id+":"+reason), append(f.by, by)
	return nil
}
func (f *fakeBackend) Wipe(_ context.Context, id string, protected bool, by string) (*store.Command, error) {
	f.wiped = append(f.wiped, protected)
	return &store.Command{ID: "w1"}, nil
}

const devID = "1E08C6E95D8BB843B1278FF45BC60CC6"

func newTestHandler(t *testing.T) (*Handler, *fakeBackend) {
	t.Helper()
	now := time.Now()
	f := &fakeBackend{
		devices: []*store.Device{
			{DeviceID: devID, DeviceName: "DESKTOP-A", User: "demo@contoso.com", State: store.StateEnrolled, EnrolledAt: now},
			{DeviceID: "B5B954E81FBCB94EB79BD08BE625F4EE", DeviceName: "LAPTOP-B", User: "bob@contoso.com", State: store.StateRetired, EnrolledAt: now},
		},
		counts: &store.DeviceCounts{Total: 2, ByState: map[store.DeviceState]int{store.StateEnrolled: 1, store.StateRetired: 1},
			EnrolledPerDay: make([]int, store.FleetDays), Since: now.AddDate(0, 0, -89), LastSeen: make([]int, len(store.LastSeenBuckets))},
		profiles: map[string]*store.Profile{"camera-off": {Name: "camera-off", Version: "v1", Retries: 3,
			SyncML: "<Replace><Item><Target><LocURI>./Device/X</LocURI></Target><Data>0</Data></Item></Replace>", Targets: store.ProfileTargets{IncludeAny: []string{"finance"}}}},
	}
	h, err := New(f, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return h, f
}

// get serves a GET as user, returning the answer and the console cookie.
func get(h *Handler, path, user string, cookie *http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "https://admin.test/console"+path, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	h.Serve(w, r, strings.TrimPrefix(r.URL.Path, "/console"), "/console", user)
	return w
}

func post(h *Handler, path, user string, form url.Values, cookie *http.Cookie, origin string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "https://admin.test/console"+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	h.Serve(w, r, strings.TrimPrefix(r.URL.Path, "/console"), "/console", user)
	return w
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// session opens the device page as user and returns the cookie and token
// the browser would hold.
func session(t *testing.T, h *Handler, user string) (*http.Cookie, string) {
	t.Helper()
	w := get(h, "/devices/"+devID, user, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("device page: %d %s", w.Code, w.Body)
	}
	var c *http.Cookie
	for _, k := range w.Result().Cookies() {
		if k.Name == CookieName {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/console/" || !c.Secure {
		t.Fatalf("console cookie %+v", c)
	}
	m := csrfInput.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatal("no CSRF token in the device page")
	}
	return c, m[1]
}

func TestNoUserIsForbidden(t *testing.T) {
	h, _ := newTestHandler(t)
	var refused []string
	h.Refused = func(_ *http.Request, _ string, _ int, reason string) { refused = append(refused, reason) }
	for _, path := range []string{"/", "/devices", "/devices/" + devID} {
		w := get(h, path, "", nil)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "basic_auth") || strings.Contains(w.Body.String(), "DESKTOP-A") {
			t.Errorf("%s without a user: %d", path, w.Code)
		}
	}
	if w := post(h, "/devices/"+devID+"/retire", "", url.Values{"confirm": {devID}}, nil, ""); w.Code != http.StatusForbidden {
		t.Errorf("POST without a user: %d", w.Code)
	}
	if len(refused) != 4 {
		t.Errorf("refusals told: %v", refused)
	}
	// Static assets need no user.
	if w := get(h, "/static/console.css", "", nil); w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("css: %d", w.Code)
	}
}

func TestPagesRender(t *testing.T) {
	h, _ := newTestHandler(t)
	w := get(h, "/", "alice", nil)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `id="count-enrolled"><span class="n">1</span>`) || !strings.Contains(body, "<svg") || !strings.Contains(body, "alice") {
		t.Fatalf("overview: %d\n%s", w.Code, body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	w = get(h, "/devices?q=laptop", "alice", nil)
	if body = w.Body.String(); w.Code != 200 || !strings.Contains(body, "LAPTOP-B") || strings.Contains(body, "DESKTOP-A") {
		t.Fatalf("search: %d\n%s", w.Code, body)
	}
	w = get(h, "/devices?q="+devID, "alice", nil)
	if body = w.Body.String(); !strings.Contains(body, `class="exact"`) || strings.Count(body, "DESKTOP-A") != 1 {
		t.Errorf("ID search shows the device once, first:\n%s", body)
	}
	w = get(h, "/devices?state=bogus", "alice", nil)
	if w.Code != http.StatusBadRequest {
		t.Errorf("bad state: %d", w.Code)
	}
	w = get(h, "/devices/"+devID, "alice", nil)
	body = w.Body.String()
	if strings.ContainsRune(body, '\u202E') || !strings.Contains(body, "Book[U+202E]live") {
		t.Error("a bidirectional control a device sent is not shown as its code point")
	}
	for _, want := range []string{"DESKTOP-A", "./DevInfo/Man", "Contoso &lt;b&gt;", "10.0.19043.2364", "Get ./DevDetail/SwV", `class="tv-tag"`, "SyncML session 1", "body not kept as XML"} {
		if !strings.Contains(body, want) {
			t.Errorf("device page lacks %q", want)
		}
	}
	if w := get(h, "/devices/NOPE", "alice", nil); w.Code != http.StatusNotFound {
		t.Errorf("unknown device: %d", w.Code)
	}
}

func TestPostNeedsCSRFTokenCookieAndOrigin(t *testing.T) {
	h, f := newTestHandler(t)
	cookie, token := session(t, h, "alice")
	form := url.Values{"verb": {"Get"}, "target": {"./DevDetail/SwV"}}
	if w := post(h, "/devices/"+devID+"/commands", "alice", form, cookie, ""); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "CSRF") {
		t.Errorf("no token: %d", w.Code)
	}
	form.Set(CSRFField, token)
	if w := post(h, "/devices/"+devID+"/commands", "mallory", form, cookie, ""); w.Code != http.StatusForbidden {
		t.Errorf("another user's token: %d", w.Code)
	}
	if w := post(h, "/devices/"+devID+"/commands", "alice", form, nil, ""); w.Code != http.StatusForbidden {
		t.Errorf("no cookie: %d", w.Code)
	}
	if w := post(h, "/devices/"+devID+"/commands", "alice", form, cookie, "https://evil.test"); w.Code != http.StatusForbidden {
		t.Errorf("cross origin: %d", w.Code)
	}
	if len(f.queued) != 0 {
		t.Fatalf("refused posts queued %v", f.queued)
	}
	w := post(h, "/devices/"+devID+"/commands", "alice", form, cookie, "https://admin.test")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/console/devices/"+devID+"?done=queued") {
		t.Fatalf("good post: %d %s", w.Code, w.Header().Get("Location"))
	}
	if len(f.queued) != 1 || f.queued[0].Verb != "Get" || f.queued[0].Items[0].Target != "./DevDetail/SwV" || f.queued[0].Items[0].Data != "" || f.by[0] != "alice" {
		t.Errorf("queued %+v by %v", f.queued, f.by)
	}
	form = url.Values{CSRFField: {token}, "verb": {"Replace"}, "target": {"./Device/X"}, "format": {"int"}, "data": {"0"}, "sensitive": {"1"}}
	post(h, "/devices/"+devID+"/commands", "alice", form, cookie, "")
	if s := f.queued[1]; s.Verb != "Replace" || s.Items[0].Format != "int" || s.Items[0].Data != "0" || !s.Sensitive {
		t.Errorf("replace %+v", s)
	}
	form.Set("verb", "Delete")
	if w := post(h, "/devices/"+devID+"/commands", "alice", form, cookie, ""); w.Code != http.StatusBadRequest {
		t.Errorf("verb Delete from the form: %d", w.Code)
	}
}

func TestDestructiveActionsNeedConfirmation(t *testing.T) {
	h, f := newTestHandler(t)
	cookie, token := session(t, h, "alice")
	// Without the confirmation field: sent to the confirmation page.
	w := post(h, "/devices/"+devID+"/retire", "alice", url.Values{CSRFField: {token}}, cookie, "")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/devices/"+devID+"/confirm/retire" || len(f.retired) != 0 {
		t.Fatalf("unconfirmed retire: %d %q %v", w.Code, w.Header().Get("Location"), f.retired)
	}
	w = get(h, "/devices/"+devID+"/confirm/retire", "alice", cookie)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `name="confirm" value="`+devID+`"`) {
		t.Fatalf("confirm page: %d\n%s", w.Code, w.Body)
	}
	w = post(h, "/devices/"+devID+"/retire", "alice", url.Values{CSRFField: {token}, "confirm": {devID}, "reason": {"stolen"}}, cookie, "")
	if w.Code != http.StatusSeeOther || len(f.retired) != 1 || f.retired[0] != devID+":stolen" || f.by[0] != "alice" {
		t.Fatalf("confirmed retire: %d %v", w.Code, f.retired)
	}
	post(h, "/devices/"+devID+"/wipe", "alice", url.Values{CSRFField: {token}, "confirm": {devID}, "protected": {"1"}}, cookie, "")
	post(h, "/devices/"+devID+"/unenroll", "alice", url.Values{CSRFField: {token}, "confirm": {devID}}, cookie, "")
	if len(f.wiped) != 1 || !f.wiped[0] || len(f.unenroll) != 1 {
		t.Errorf("wipe %v unenroll %v", f.wiped, f.unenroll)
	}
	if w := get(h, "/devices/"+devID+"/confirm/explode", "alice", cookie); w.Code != http.StatusNotFound {
		t.Errorf("unknown action: %d", w.Code)
	}
}

func TestFlashOnlyFixedTexts(t *testing.T) {
	if got := flash(url.Values{"done": {"queued"}, "cmd": {"<script>"}}); strings.Contains(got, "<") {
		t.Errorf("flash %q", got)
	}
	if got := flash(url.Values{"done": {"anything else"}}); got != "" {
		t.Errorf("flash %q", got)
	}
}

func TestProfilePages(t *testing.T) {
	h, f := newTestHandler(t)
	w := get(h, "/", "alice", nil)
	if body := w.Body.String(); !strings.Contains(body, `id="profile-camera-off"`) || !strings.Contains(body, "any of finance") {
		t.Errorf("overview lacks the profile:\n%s", body)
	}
	w = get(h, "/profiles/camera-off", "alice", nil)
	body := w.Body.String()
	for _, want := range []string{"405 on ./Device/X", "1 / 1 / 0", "&lt;Replace&gt;", `name="include_any" id="profile-include" value="finance"`, "<svg"} {
		if !strings.Contains(body, want) {
			t.Errorf("profile page lacks %q", want)
		}
	}
	if w := get(h, "/profiles/camera-off?state=bogus", "alice", nil); w.Code != http.StatusBadRequest {
		t.Errorf("bad state: %d", w.Code)
	}
	if w := get(h, "/profiles/nope", "alice", nil); w.Code != http.StatusNotFound {
		t.Errorf("unknown profile: %d", w.Code)
	}
	cookie, token := session(t, h, "alice")
	form := url.Values{CSRFField: {token}, "name": {"camera-off"}, "syncml": {"<Replace><Item/></Replace>"}, "include_any": {"finance, hr"}, "retries": {"5"}}
	w = post(h, "/profiles", "alice", form, cookie, "")
	if w.Code != http.StatusSeeOther || len(f.saved) != 1 || fmt.Sprint(f.saved[0].IncludeAny) != "[finance hr]" || *f.saved[0].Retries != 5 {
		t.Fatalf("apply: %d %+v", w.Code, f.saved)
	}
	form.Set("syncml", "nonsense")
	if w = post(h, "/profiles/camera-off", "alice", form, cookie, ""); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "no command") {
		t.Errorf("invalid profile: %d", w.Code)
	}
	// Deletion waits for its confirmation.
	w = post(h, "/profiles/camera-off/delete", "alice", url.Values{CSRFField: {token}}, cookie, "")
	if w.Code != http.StatusSeeOther || !strings.HasSuffix(w.Header().Get("Location"), "/confirm-delete") || len(f.deleted) != 0 {
		t.Fatalf("unconfirmed delete: %d %v", w.Code, f.deleted)
	}
	post(h, "/profiles/camera-off/delete", "alice", url.Values{CSRFField: {token}, "confirm": {"camera-off"}}, cookie, "")
	if fmt.Sprint(f.deleted) != "[camera-off by alice]" {
		t.Errorf("deleted %v", f.deleted)
	}
	if w := post(h, "/profiles", "alice", url.Values{"name": {"x"}, "syncml": {"<Replace>"}}, cookie, ""); w.Code != http.StatusForbidden {
		t.Errorf("profile POST without token: %d", w.Code)
	}
}

func TestDeviceLabelsAndProfileStates(t *testing.T) {
	h, f := newTestHandler(t)
	w := get(h, "/devices/"+devID, "alice", nil)
	body := w.Body.String()
	for _, want := range []string{"finance", "os:10.0.19043", "camera-off", "405 on ./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera"} {
		if !strings.Contains(body, want) {
			t.Errorf("device page lacks %q", want)
		}
	}
	cookie, token := session(t, h, "alice")
	post(h, "/devices/"+devID+"/labels", "alice", url.Values{CSRFField: {token}, "label": {"hr"}, "op": {"add"}}, cookie, "")
	post(h, "/devices/"+devID+"/labels", "alice", url.Values{CSRFField: {token}, "label": {"finance"}, "op": {"remove"}}, cookie, "")
	if fmt.Sprint(f.labels) != "["+devID+" hr true alice "+devID+" finance false alice]" {
		t.Errorf("labels %v", f.labels)
	}
	w = get(h, "/devices?label=finance", "alice", nil)
	if body := w.Body.String(); !strings.Contains(body, "LAPTOP-B") || strings.Contains(body, "DESKTOP-A") {
		t.Errorf("label filter:\n%s", body)
	}
	if w := get(h, "/devices?label=Bad%20Label", "alice", nil); w.Code != http.StatusBadRequest {
		t.Errorf("bad label: %d", w.Code)
	}
}
