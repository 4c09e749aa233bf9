package caddymdm

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

// Fleet management on the admin API (profiles, labels, named actions):
//
//	GET    /mdm/profiles                          the profiles
//	PUT    /mdm/profiles/<name>                   create or replace (ProfileRequest)
//	GET    /mdm/profiles/<name>                   the profile with counts per state
//	GET    /mdm/profiles/<name>/devices?state=&after=&limit=   state per device
//	DELETE /mdm/profiles/<name>                   delete; removed from devices
//	GET    /mdm/devices/<id>/profiles             labels and profile states
//	PUT    /mdm/devices/<id>/labels/<label>       add an admin label
//	DELETE /mdm/devices/<id>/labels/<label>       remove it
//	POST   /mdm/devices/<id>/wipe                 RemoteWipe ({"protected": true})
//	POST   /mdm/devices/<id>/reboot               Reboot/RebootNow
//	GET    /mdm/devices/<id>/actions              wipe and reboot history
//
// Every rule lives in internal/profile (profile.Service), which the console
// calls too; these handlers only decode, call and encode.

// Profiles returns the fleet-management service over the app's store.
func (a *App) Profiles() *profile.Service { return &profile.Service{Store: a.store} }

// maxProfileBody bounds a PUT profile body: the SyncML bound, with room
// for JSON escaping (\u003c for each <), plus the other fields.
const maxProfileBody = profile.MaxSyncMLSize*6 + 64<<10

// ProfileRequest is the body of PUT /mdm/profiles/<name>: the profile
// service's request as it is (its Source is not read from JSON; the API
// is "api").
type ProfileRequest = profile.PutRequest

// ProfileDetail is a profile with its counts per state.
type ProfileDetail struct {
	// The profile as stored (SyncML, version, targets, parsed settings;
	// SyncML and values REDACTED when sensitive).
	Profile *store.Profile `json:"profile"`
	// Devices targeted and counts per state.
	Summary *profile.Summary `json:"summary"`
	// Whether a PUT changed anything (omitted on GET).
	Changed *bool `json:"changed,omitempty"`
}

// ProfileList is every profile.
type ProfileList struct {
	// The catalog entries, by name.
	Profiles []*store.ProfileMeta `json:"profiles"`
}

// WipeRequest is the optional body of POST /mdm/devices/<id>/wipe.
type WipeRequest struct {
	// Use doWipeProtected (also cleans the drive; resists interruption;
	// some devices may not boot after it). Default: false (doWipe).
	Protected bool `json:"protected,omitempty"`
}

// ActionList is a device's history of named actions.
type ActionList struct {
	// Wipes and reboots, oldest first, with the device's answers.
	Actions []store.ActionRecord `json:"actions"`
}

// fleetStatus maps service errors to HTTP statuses.
func fleetStatus(err error) int {
	switch {
	case errors.Is(err, profile.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, profile.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, profile.ErrNotFound):
		return http.StatusNotFound
	}
	return serviceStatus(err)
}

// serveFleet handles the fleet-management routes; handled is false for
// the routes admin.go serves.
func (a *AdminAPI) serveFleet(w http.ResponseWriter, r *http.Request, app *App, parts []string) (handled bool, err error) {
	svc := app.Profiles()
	ctx := r.Context()
	fail := func(err error) error { return apiError(fleetStatus(err), "%v", err) }
	switch {
	case parts[0] == "profiles" && len(parts) == 1:
		return true, a.only(r, http.MethodGet, func() error {
			list, err := svc.List(ctx)
			if err != nil {
				return fail(err)
			}
			return writeJSON(w, http.StatusOK, ProfileList{Profiles: list})
		})
	case parts[0] == "profiles" && len(parts) == 2:
		name := parts[1]
		switch r.Method {
		case http.MethodGet:
			p, err := svc.Get(ctx, name)
			if err != nil {
				return true, fail(err)
			}
			sum, err := svc.Summary(ctx, name)
			if err != nil {
				return true, fail(err)
			}
			return true, writeJSON(w, http.StatusOK, ProfileDetail{Profile: profile.Redacted(p), Summary: sum})
		case http.MethodPut:
			return true, a.putProfile(w, r, app, svc, name)
		case http.MethodDelete:
			if err := app.deleteProfile(ctx, name, byAdminAPI); err != nil {
				return true, fail(err)
			}
			return true, writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
		}
		return true, apiError(http.StatusMethodNotAllowed, "%s not allowed: use GET, PUT or DELETE", r.Method)
	case parts[0] == "profiles" && len(parts) == 3 && parts[2] == "devices":
		return true, a.only(r, http.MethodGet, func() error {
			q := r.URL.Query()
			limit := 100
			if s := q.Get("limit"); s != "" {
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 || n > profile.MaxPage {
					return apiError(http.StatusBadRequest, "limit must be 1 to %d", profile.MaxPage)
				}
				limit = n
			}
			page, err := svc.Devices(ctx, parts[1], q.Get("state"), q.Get("after"), limit)
			if err != nil {
				return fail(err)
			}
			return writeJSON(w, http.StatusOK, page)
		})
	case parts[0] != "devices" || len(parts) < 3:
		return false, nil
	}
	id := parts[1]
	switch {
	case len(parts) == 3 && parts[2] == "profiles":
		return true, a.only(r, http.MethodGet, func() error {
			v, err := svc.Device(ctx, id)
			if err != nil {
				return fail(err)
			}
			return writeJSON(w, http.StatusOK, v)
		})
	case len(parts) == 4 && parts[2] == "labels":
		if r.Method != http.MethodPut && r.Method != http.MethodDelete {
			return true, apiError(http.StatusMethodNotAllowed, "%s not allowed: use PUT or DELETE", r.Method)
		}
		if _, err := app.changeLabel(ctx, id, parts[3], r.Method == http.MethodPut, byAdminAPI); err != nil {
			return true, fail(err)
		}
		v, err := svc.Device(ctx, id)
		if err != nil {
			return true, fail(err)
		}
		return true, writeJSON(w, http.StatusOK, v)
	case len(parts) == 3 && (parts[2] == "wipe" || parts[2] == "reboot"):
		return true, a.only(r, http.MethodPost, func() error { return a.deviceAction(w, r, app, id, parts[2]) })
	case len(parts) == 3 && parts[2] == "actions":
		return true, a.only(r, http.MethodGet, func() error {
			if _, err := a.device(r, app, id); err != nil {
				return err
			}
			h, err := app.store.DeviceActions(ctx, id)
			if err != nil {
				return fail(err)
			}
			if h.Actions == nil {
				h.Actions = []store.ActionRecord{}
			}
			return writeJSON(w, http.StatusOK, ActionList{Actions: h.Actions})
		})
	}
	return false, nil
}

func (a *AdminAPI) putProfile(w http.ResponseWriter, r *http.Request, app *App, svc *profile.Service, name string) error {
	var req ProfileRequest
	if err := decodeJSONBody(r, maxProfileBody, &req, "profile", false); err != nil {
		return err
	}
	p, changed, err := app.saveProfile(r.Context(), name, req, byAdminAPI)
	if err != nil {
		return apiError(fleetStatus(err), "%v", err)
	}
	sum, err := svc.Summary(r.Context(), name)
	if err != nil {
		return apiError(fleetStatus(err), "%v", err)
	}
	return writeJSON(w, http.StatusOK, ProfileDetail{Profile: profile.Redacted(p), Summary: sum, Changed: &changed})
}

func (a *AdminAPI) deviceAction(w http.ResponseWriter, r *http.Request, app *App, id, action string) error {
	if _, err := a.device(r, app, id); err != nil {
		return err
	}
	var cmd *store.Command
	var err error
	if action == "reboot" {
		cmd, err = app.rebootDevice(r.Context(), id, byAdminAPI)
	} else {
		var req WipeRequest
		if err := decodeJSONBody(r, 64<<10, &req, "wipe", true); err != nil {
			return err
		}
		cmd, err = app.wipeDevice(r.Context(), id, req.Protected, byAdminAPI)
	}
	if err != nil {
		return apiError(serviceStatus(err), "%v", err)
	}
	return writeJSON(w, http.StatusAccepted, trace.Command(cmd))
}

// addFleet adds the device's labels, profile states and action history to
// its detail (GET /mdm/devices/<id>).
func (a *App) addFleet(ctx context.Context, d *DeviceDetail) error {
	v, err := a.Profiles().Device(ctx, d.Device.DeviceID)
	if err != nil {
		return err
	}
	h, err := a.store.DeviceActions(ctx, d.Device.DeviceID)
	if err != nil {
		return err
	}
	d.DeviceView, d.Actions = v, h.Actions
	return nil
}
