package console

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
	"github.com/caddy-mdm/caddy-mdm/internal/traceview"
)

// deviceView is the device page.
type deviceView struct {
	D *DeviceData
	// Fleet is the device's labels and profile states.
	Fleet     *profile.DeviceView
	Record    []field
	Inventory []field
	Events    []field
	Commands  []commandRow
	Trace     []traceview.Exchange
	// Active is set for an enrolled device: actions are offered.
	Active bool
}

type field struct{ Name, Value string }

// commandRow is a command in the device's table.
type commandRow struct {
	CommandData
	Sensitive  bool
	Cancelable bool
}

// newDeviceView arranges a device's data for its page: the record's
// fields, the inventory sorted by node, commands newest first, the trace
// made readable (internal/traceview, as `caddy mdm trace` shows it).
func newDeviceView(d *DeviceData) deviceView {
	v := deviceView{D: d, Active: d.Device.State == store.StateEnrolled}
	dev := d.Device
	add := func(name, value string) {
		if value != "" {
			v.Record = append(v.Record, field{name, value})
		}
	}
	add("Device ID", dev.DeviceID)
	add("Name", dev.DeviceName)
	add("State", string(dev.State))
	add("State reason", dev.StateReason)
	add("User", dev.User)
	add("Authenticated by", string(dev.AuthPolicy))
	add("Enrollment type", string(dev.EnrollmentType))
	add("Hardware ID", dev.HWDevID)
	add("Device type", dev.DeviceType)
	add("OS version", dev.OSVersion)
	add("OS edition", dev.OSEdition)
	add("Application version", dev.ApplicationVersion)
	add("Locale", dev.Locale)
	add("MAC addresses", strings.Join(dev.MACs, ", "))
	if dev.WindowsPhone8 {
		add("Document", "Windows Phone 8")
	}
	add("Enrolled", fmtTime(dev.EnrolledAt))
	add("Updated", fmtTime(dev.UpdatedAt))
	add("Certificate subject", dev.Certificate.Subject)
	add("Certificate thumbprint", dev.Certificate.Thumbprint)
	add("Certificate serial", dev.Certificate.Serial)
	if !dev.Certificate.NotAfter.IsZero() {
		add("Certificate valid", fmtTime(dev.Certificate.NotBefore)+" to "+fmtTime(dev.Certificate.NotAfter))
	}
	if dev.PreviousCertificate != nil {
		add("Previous certificate", dev.PreviousCertificate.Thumbprint+" (until the device uses the renewed one)")
	}
	if d.LastSeen != nil {
		how := string(d.SessionAuth)
		if d.SessionID != "" {
			how += ", session " + d.SessionID
		}
		add("Last seen", fmtTime(*d.LastSeen)+" ("+how+")")
	} else {
		add("Last seen", "never (no management session yet)")
	}
	v.Inventory = sortedFields(d.Inventory.Nodes)
	v.Events = sortedFields(d.Inventory.Events)
	for i := len(d.Commands) - 1; i >= 0; i-- {
		c := d.Commands[i]
		v.Commands = append(v.Commands, commandRow{CommandData: c, Sensitive: trace.SensitiveSpec(&c.Spec), Cancelable: c.State == store.CommandQueued})
	}
	v.Trace = traceview.FromTrace(d.Trace)
	// Newest exchange first: what an admin looks for is what just happened.
	for i, j := 0, len(v.Trace)-1; i < j; i, j = i+1, j-1 {
		v.Trace[i], v.Trace[j] = v.Trace[j], v.Trace[i]
	}
	return v
}

func sortedFields(m map[string]string) []field {
	out := make([]field, 0, len(m))
	for k, v := range m {
		out = append(out, field{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (h *Handler) device(w http.ResponseWriter, r *http.Request, p *page, id string) {
	d, err := h.Backend.Device(r.Context(), id)
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	v := newDeviceView(d)
	if v.Fleet, err = h.Backend.DeviceFleet(r.Context(), id); err != nil {
		h.failErr(w, p, err)
		return
	}
	p.Title, p.Nav, p.Body = "Device "+id, "devices", v
	p.Flash = flash(r.URL.Query())
	h.render(w, http.StatusOK, "device", p)
}

// flash is the message of a redirect after a change; only fixed texts and
// a command ID (which the redirect carries) are shown.
func flash(q url.Values) string {
	cmd := q.Get("cmd")
	if !store.ValidDeviceID(cmd) {
		cmd = ""
	}
	switch q.Get("done") {
	case "queued":
		return "Command " + cmd + " queued: it goes out in the device's next session."
	case "canceled":
		return "Command " + cmd + " canceled."
	case "unenroll":
		return "Unenroll queued (command " + cmd + "): the device is retired when it is delivered."
	case "wipe":
		return "Wipe queued (command " + cmd + "): it goes out in the device's next session."
	case "retired":
		return "Device retired: its certificate and credentials no longer work."
	case "labels":
		return "Labels changed: profiles follow at the device's next session."
	}
	return ""
}

// commandSpec builds the command of the device page's form: a Get of one
// node, or a Replace of one node with format and data. Whether it is a
// valid command is the queue's rule (omadm.ValidateSpec, via Enqueue).
func commandSpec(f url.Values) store.CommandSpec {
	verb := f.Get("verb")
	item := store.ItemSpec{Target: strings.TrimSpace(f.Get("target"))}
	if verb != "Get" {
		item.Format, item.Data = f.Get("format"), f.Get("data")
	}
	return store.CommandSpec{Verb: verb, Items: []store.ItemSpec{item}, Sensitive: f.Get("sensitive") != ""}
}

func (h *Handler) enqueue(w http.ResponseWriter, r *http.Request, p *page, id string) {
	switch r.PostForm.Get("verb") {
	case "Get", "Replace":
	default:
		h.fail(w, p, http.StatusBadRequest, "verb: want Get or Replace")
		return
	}
	cmd, err := h.Backend.Enqueue(r.Context(), id, commandSpec(r.PostForm), p.User)
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	redirect(w, r, devicePath(p.Prefix, id)+"?done=queued&cmd="+url.QueryEscape(cmd.ID)+"#commands")
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, p *page, id, cmdID string) {
	if err := h.Backend.Cancel(r.Context(), id, cmdID, p.User); err != nil {
		h.failErr(w, p, err)
		return
	}
	redirect(w, r, devicePath(p.Prefix, id)+"?done=canceled&cmd="+url.QueryEscape(cmdID)+"#commands")
}

// confirmView is the confirmation page of a destructive action.
type confirmView struct {
	ID, Action, Verb, Explain string
	Device                    deviceRow
	// Reason asks for the retirement reason; Protected offers doWipeProtected.
	Reason, Protected bool
}

// actions are the destructive actions, each behind a confirmation page.
var actions = map[string]confirmView{
	"unenroll": {Verb: "Unenroll", Explain: "Queues Unenroll for the device's next session: Windows removes the management account, and the device is retired as the command is delivered."},
	"retire":   {Verb: "Retire", Reason: true, Explain: "Takes the device out of management now (a lost or stolen device that will not call again): its certificate and digest credentials stop working and its queued commands are canceled. It cannot be undone; the device must enroll again."},
	"wipe":     {Verb: "Wipe", Protected: true, Explain: "Queues a remote wipe (RemoteWipe CSP) for the device's next session: Windows resets itself and its data is lost. Protected keeps the wipe going if the device loses power and cannot be skipped by a restart, but may leave a device that cannot boot."},
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request, p *page, id, action string) {
	v, ok := actions[action]
	if !ok {
		h.fail(w, p, http.StatusNotFound, "no action "+action+": want unenroll, retire or wipe")
		return
	}
	d, err := h.Backend.Device(r.Context(), id)
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	v.ID, v.Action, v.Device = id, action, newDeviceRow(&d.Device)
	p.Title, p.Nav, p.Body = v.Verb+" device "+id+"?", "devices", v
	h.render(w, http.StatusOK, "confirm", p)
}

// act carries out a confirmed action; without the confirmation field the
// browser is sent to the confirmation page instead.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, p *page, id, action string) {
	if _, ok := actions[action]; !ok {
		h.fail(w, p, http.StatusNotFound, "no action "+action)
		return
	}
	if r.PostForm.Get("confirm") != id {
		redirect(w, r, devicePath(p.Prefix, id)+"/confirm/"+action)
		return
	}
	ctx := r.Context()
	var (
		cmd *store.Command
		err error
	)
	switch action {
	case "unenroll":
		cmd, err = h.Backend.Unenroll(ctx, id, p.User)
	case "wipe":
		cmd, err = h.Backend.Wipe(ctx, id, r.PostForm.Get("protected") != "", p.User)
	case "retire":
		if reason := r.PostForm.Get("reason"); len(reason) > 500 {
			h.fail(w, p, http.StatusBadRequest, "reason over 500 characters")
			return
		}
		err = h.Backend.Retire(ctx, id, strings.TrimSpace(r.PostForm.Get("reason")), p.User)
	}
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	to := devicePath(p.Prefix, id) + "?done=" + action
	if action == "retire" {
		to = devicePath(p.Prefix, id) + "?done=retired"
	}
	if cmd != nil {
		to += "&cmd=" + url.QueryEscape(cmd.ID)
	}
	redirect(w, r, to)
}
