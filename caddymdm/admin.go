package caddymdm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI serves the MDM on Caddy's admin endpoint, as JSON:
//
//	GET    /mdm/devices?state=&limit=&after=     devices, one page
//	GET    /mdm/devices/<id>                     record, inventory, last seen
//	POST   /mdm/devices/<id>/commands            queue a command
//	GET    /mdm/devices/<id>/commands            commands with status and results
//	GET    /mdm/devices/<id>/commands/<cmd>      one command
//	DELETE /mdm/devices/<id>/commands/<cmd>      cancel a queued command
//	GET    /mdm/devices/<id>/trace               latest exchanges (trace_exchanges)
//	POST   /mdm/devices/<id>/unenroll            queue Unenroll; retired when delivered
//	POST   /mdm/devices/<id>/retire              retire now ({"reason": "..."})
//
// Errors are {"error": "..."} with the HTTP status that fits. Device
// secrets never leave the server.
type AdminAPI struct {
	ctx    caddy.Context
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.mdm",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision keeps the context to find the running mdm app per request.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger(a)
	return nil
}

// runningApp is the mdm app of the running config. Caddy moves its admin
// endpoint to a new config's routes before that config starts; when the
// config then fails (a reload with a broken Caddyfile), this module's
// context is canceled while the previous config keeps running, so the
// running config is asked instead of the failed one.
func (a *AdminAPI) runningApp() (*App, error) {
	ctx := a.ctx
	if ctx.Err() != nil {
		ctx = caddy.ActiveContext()
	}
	v, err := ctx.AppIfConfigured("mdm")
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

// Routes implements caddy.AdminRouter.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/mdm/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// maxCommandBody bounds a POSTed command.
const maxCommandBody = omadm.MaxCommandData + 1<<20

func apiError(status int, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	for _, a := range args {
		if e, ok := a.(error); ok && status == http.StatusInternalServerError && storageUnavailable(e) {
			// The storage (Redis) is down: try again later (cluster.go).
			status = http.StatusServiceUnavailable
		}
	}
	return caddy.APIError{HTTPStatus: status, Err: err, Message: err.Error()}
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	app, err := a.runningApp()
	if err != nil {
		return apiError(http.StatusNotFound, "the mdm app is not configured")
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/mdm/"), "/"), "/")
	if handled, err := a.serveFleet(w, r, app, parts); handled {
		return err // profiles, labels, named actions: admin_profiles.go
	}
	if len(parts) == 1 && parts[0] == "cluster" {
		return a.serveCluster(w, r, app) // admin_cluster.go
	}
	if parts[0] != "devices" {
		return apiError(http.StatusNotFound, "unknown MDM endpoint %s", r.URL.Path)
	}
	switch {
	case len(parts) == 1:
		return a.only(r, http.MethodGet, func() error { return a.listDevices(w, r, app) })
	case len(parts) == 2:
		return a.only(r, http.MethodGet, func() error { return a.showDevice(w, r, app, parts[1]) })
	case len(parts) == 3 && parts[2] == "unenroll":
		return a.only(r, http.MethodPost, func() error { return a.unenroll(w, r, app, parts[1]) })
	case len(parts) == 3 && parts[2] == "retire":
		return a.only(r, http.MethodPost, func() error { return a.retire(w, r, app, parts[1]) })
	case len(parts) == 3 && parts[2] == "trace":
		return a.only(r, http.MethodGet, func() error { return a.showTrace(w, r, app, parts[1]) })
	case len(parts) == 3 && parts[2] == "commands":
		switch r.Method {
		case http.MethodGet:
			return a.listCommands(w, r, app, parts[1])
		case http.MethodPost:
			return a.enqueue(w, r, app, parts[1])
		}
		return apiError(http.StatusMethodNotAllowed, "%s not allowed: use GET or POST", r.Method)
	case len(parts) == 4 && parts[2] == "commands":
		switch r.Method {
		case http.MethodGet:
			return a.showCommand(w, r, app, parts[1], parts[3])
		case http.MethodDelete:
			return a.cancel(w, r, app, parts[1], parts[3])
		}
		return apiError(http.StatusMethodNotAllowed, "%s not allowed: use GET or DELETE", r.Method)
	}
	return apiError(http.StatusNotFound, "unknown MDM endpoint %s", r.URL.Path)
}

func (a *AdminAPI) only(r *http.Request, method string, f func() error) error {
	if r.Method != method {
		return apiError(http.StatusMethodNotAllowed, "%s not allowed: use %s", r.Method, method)
	}
	return f()
}

// DeviceSummary is a device in a list.
type DeviceSummary struct {
	// The DeviceID the device enrolled with; the id of the other calls.
	DeviceID string `json:"device_id"`
	// The device's name, as it reported it; omitted when unknown.
	DeviceName string `json:"device_name,omitempty"`
	// enrolled, unenrolled (by its user) or retired (by an admin).
	State store.DeviceState `json:"state"`
	// The authenticated identity that enrolled the device.
	User string `json:"user"`
	// The Windows version the device reported; omitted when unknown.
	OSVersion string `json:"os_version,omitempty"`
	// "Full" (user enrollment) or "Device".
	EnrollmentType store.EnrollmentType `json:"enrollment_type"`
	// When the device enrolled.
	EnrolledAt time.Time `json:"enrolled_at"`
	// When the device's current certificate expires.
	CertNotAfter time.Time `json:"certificate_not_after"`
}

// DeviceList is one page of devices.
type DeviceList struct {
	// The devices of this page, by DeviceID; at most the requested limit
	// (default 100).
	Devices []DeviceSummary `json:"devices"`
	// Next is the `after` of the next page; empty on the last page.
	Next string `json:"next,omitempty"`
}

func (a *AdminAPI) listDevices(w http.ResponseWriter, r *http.Request, app *App) error {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxListLimit {
			return apiError(http.StatusBadRequest, "limit must be 1 to %d", store.MaxListLimit)
		}
		limit = n
	}
	state := store.DeviceState(q.Get("state"))
	switch state {
	case "", store.StateEnrolled, store.StateUnenrolled, store.StateRetired:
	default:
		return apiError(http.StatusBadRequest, "state %q: want enrolled, unenrolled or retired", state)
	}
	devs, next, err := app.store.ListDevices(r.Context(), state, q.Get("after"), limit)
	if err != nil {
		return apiError(http.StatusInternalServerError, "listing devices: %v", err)
	}
	out := DeviceList{Devices: make([]DeviceSummary, 0, len(devs)), Next: next}
	for _, d := range devs {
		out.Devices = append(out.Devices, DeviceSummary{
			DeviceID: d.DeviceID, DeviceName: d.DeviceName, State: d.State, User: d.User,
			OSVersion: d.OSVersion, EnrollmentType: d.EnrollmentType, EnrolledAt: d.EnrolledAt,
			CertNotAfter: d.Certificate.NotAfter,
		})
	}
	return writeJSON(w, http.StatusOK, out)
}

// DeviceDetail is one device: its record (secrets redacted), what it
// reported, and its latest session.
type DeviceDetail struct {
	// The device's record, with its secrets redacted.
	Device store.Device `json:"device"`
	// What the device reported in its sessions (sensitive values redacted).
	Inventory store.Inventory `json:"inventory"`
	// When the device's latest OMA-DM message arrived; omitted before its
	// first session.
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// The SessionID of its latest OMA-DM session; omitted before the first.
	SessionID string `json:"session_id,omitempty"`
	// How that session authenticated: certificate or digest; omitted before
	// the first session.
	SessionAuth store.AuthMethod `json:"session_auth,omitempty"`
	// How many commands wait in the device's queue.
	PendingCommands int `json:"pending_commands"`
	// Its labels, automatic labels and profile states, at the top level:
	// "labels", "auto_labels", "profiles" (admin_profiles.go).
	*profile.DeviceView
	// Wipes and reboots asked for it, with its answers.
	Actions []store.ActionRecord `json:"actions,omitempty"`
}

func (a *AdminAPI) device(r *http.Request, app *App, id string) (*store.Device, error) {
	d, err := app.store.Device(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apiError(http.StatusNotFound, "no device %q", id)
	}
	if err != nil {
		return nil, apiError(http.StatusInternalServerError, "%v", err)
	}
	return d, nil
}

func (a *AdminAPI) showDevice(w http.ResponseWriter, r *http.Request, app *App, id string) error {
	d, err := a.device(r, app, id)
	if err != nil {
		return err
	}
	out, err := app.deviceDetail(r.Context(), d.DeviceID)
	if err != nil {
		return apiError(serviceStatus(err), "%v", err)
	}
	if err := app.addFleet(r.Context(), out); err != nil {
		return apiError(serviceStatus(err), "%v", err)
	}
	return writeJSON(w, http.StatusOK, out)
}

// CommandRequest is a command to queue: a spec (verb, items, commands), or
// one SyncML command as XML in raw; sensitive (with either) keeps its data
// out of logs, traces and command listings.
type CommandRequest struct {
	store.CommandSpec
	// One SyncML command as XML (e.g. <Get>...</Get>), instead of a spec;
	// give either raw or verb/items/commands. Default: empty (use the spec).
	Raw string `json:"raw,omitempty"`
}

func (a *AdminAPI) enqueue(w http.ResponseWriter, r *http.Request, app *App, id string) error {
	if _, err := a.device(r, app, id); err != nil {
		return err
	}
	var req CommandRequest
	if err := decodeJSONBody(r, maxCommandBody, &req, "command", false); err != nil {
		return err
	}
	spec := req.CommandSpec
	if req.Raw != "" {
		if spec.Verb != "" || len(spec.Items) > 0 || len(spec.Commands) > 0 {
			return apiError(http.StatusBadRequest, "give either raw or verb/items/commands, not both")
		}
		parsed, err := omadm.ParseRawCommand(req.Raw)
		if err != nil {
			return apiError(http.StatusBadRequest, "%v", err)
		}
		spec = *parsed
		spec.Sensitive = spec.Sensitive || req.Sensitive
	}
	cmd, err := app.queueCommand(r.Context(), id, spec, byAdminAPI)
	if err != nil {
		return apiError(serviceStatus(err), "%v", err)
	}
	return writeJSON(w, http.StatusCreated, trace.Command(cmd))
}

// CommandList is a device's commands, finished first, then pending.
type CommandList struct {
	// The device's commands, finished first, then pending, in queue order.
	Commands []*store.Command `json:"commands"`
}

func (a *AdminAPI) listCommands(w http.ResponseWriter, r *http.Request, app *App, id string) error {
	if _, err := a.device(r, app, id); err != nil {
		return err
	}
	cmds, err := app.management.Commands(r.Context(), id)
	if err != nil {
		return apiError(http.StatusInternalServerError, "%v", err)
	}
	if cmds == nil {
		cmds = []*store.Command{}
	}
	return writeJSON(w, http.StatusOK, CommandList{Commands: trace.Commands(cmds)})
}

func (a *AdminAPI) showCommand(w http.ResponseWriter, r *http.Request, app *App, id, cmdID string) error {
	cmds, err := app.management.Commands(r.Context(), id)
	if err != nil {
		return apiError(http.StatusInternalServerError, "%v", err)
	}
	for _, c := range cmds {
		if c.ID == cmdID {
			return writeJSON(w, http.StatusOK, trace.Command(c))
		}
	}
	return apiError(http.StatusNotFound, "device %q has no command %q", id, cmdID)
}

func (a *AdminAPI) cancel(w http.ResponseWriter, r *http.Request, app *App, id, cmdID string) error {
	cmd, err := app.cancelCommand(r.Context(), id, cmdID, byAdminAPI)
	switch {
	case errors.Is(err, omadm.ErrCommandNotFound):
		return apiError(http.StatusNotFound, "device %q has no command %q", id, cmdID)
	case err != nil:
		return apiError(serviceStatus(err), "%v", err)
	}
	return writeJSON(w, http.StatusOK, trace.Command(cmd))
}

func (a *AdminAPI) unenroll(w http.ResponseWriter, r *http.Request, app *App, id string) error {
	if _, err := a.device(r, app, id); err != nil {
		return err
	}
	cmd, err := app.unenrollDevice(r.Context(), id, byAdminAPI)
	if err != nil {
		return apiError(serviceStatus(err), "%v", err)
	}
	return writeJSON(w, http.StatusAccepted, trace.Command(cmd))
}

// RetireRequest is the optional body of a retire call.
type RetireRequest struct {
	// Why the device is retired, appended to "retired by an admin" in the
	// device's state reason and the log. Default: empty (no reason given).
	Reason string `json:"reason,omitempty"`
}

func (a *AdminAPI) retire(w http.ResponseWriter, r *http.Request, app *App, id string) error {
	if _, err := a.device(r, app, id); err != nil {
		return err
	}
	var req RetireRequest
	if err := decodeJSONBody(r, 64<<10, &req, "retire", true); err != nil {
		return err
	}
	dev, err := app.retireDevice(r.Context(), id, req.Reason, byAdminAPI)
	if err != nil {
		return apiError(serviceStatus(err), "%v", err)
	}
	return writeJSON(w, http.StatusOK, dev.Redacted())
}

func (a *AdminAPI) showTrace(w http.ResponseWriter, r *http.Request, app *App, id string) error {
	if _, err := a.device(r, app, id); err != nil {
		return err
	}
	t, err := app.store.Trace(r.Context(), id)
	if err != nil {
		return apiError(http.StatusInternalServerError, "%v", err)
	}
	return writeJSON(w, http.StatusOK, t)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return apiError(http.StatusInternalServerError, "%v", err)
	}
	writeBody(w, status, "application/json", b, false)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner = (*AdminAPI)(nil)
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
