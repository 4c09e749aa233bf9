package caddymdm

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

// The device operations the admin API and the console share: each applies
// its rule once (through omadm.Server and the store) and logs the change
// with who made it, so neither front end holds a rule of its own.

// byAdminAPI names changes made through Caddy's admin endpoint, which
// authenticates nobody (it listens on localhost or a socket).
const byAdminAPI = "admin API"

// serviceStatus is the HTTP status of an error of these operations, for
// the admin API's JSON errors and the console's error pages alike.
func serviceStatus(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, omadm.ErrCommandNotFound):
		return http.StatusNotFound
	case errors.Is(err, omadm.ErrInvalidCommand), errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, omadm.ErrDeviceNotActive), errors.Is(err, omadm.ErrNotCancelable):
		return http.StatusConflict
	case errors.Is(err, omadm.ErrQueueFull):
		return http.StatusTooManyRequests
	case storageUnavailable(err):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// deviceDetail is a device as the admin API's GET shows it: the record
// (secrets redacted), its inventory (sensitive values redacted), its latest
// session and how many commands wait.
func (a *App) deviceDetail(ctx context.Context, id string) (*DeviceDetail, error) {
	d, err := a.store.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	inv, err := a.store.Inventory(ctx, id)
	if err != nil {
		return nil, err
	}
	sess, err := a.management.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	q, err := a.store.Queue(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &DeviceDetail{Device: d.Redacted(), Inventory: trace.Inventory(*inv), PendingCommands: len(q.Commands)}
	if sess != nil {
		out.LastSeen, out.SessionID, out.SessionAuth = &sess.LastSeen, sess.SessionID, sess.Authenticated
	}
	return out, nil
}

// queueCommand queues a command for the device's next session.
func (a *App) queueCommand(ctx context.Context, id string, spec store.CommandSpec, by string) (*store.Command, error) {
	cmd, err := a.management.Enqueue(ctx, id, spec)
	if err != nil {
		return nil, err
	}
	a.logger.Info("command queued", zap.String("device_id", id), zap.String("command_id", cmd.ID), zap.String("verb", cmd.Spec.Verb), zap.Bool("sensitive", trace.SensitiveSpec(&cmd.Spec)), zap.String("by", by))
	return cmd, nil
}

// cancelCommand cancels a command that is still queued.
func (a *App) cancelCommand(ctx context.Context, id, cmdID, by string) (*store.Command, error) {
	cmd, err := a.management.Cancel(ctx, id, cmdID, "canceled by an admin")
	if err != nil {
		return cmd, err
	}
	a.logger.Info("command canceled", zap.String("device_id", id), zap.String("command_id", cmdID), zap.String("by", by))
	return cmd, nil
}

// unenrollDevice queues Unenroll; the device is retired when it is delivered.
func (a *App) unenrollDevice(ctx context.Context, id, by string) (*store.Command, error) {
	cmd, err := a.management.Unenroll(ctx, id)
	if err != nil {
		return nil, err
	}
	a.logger.Info("unenrollment queued", zap.String("device_id", id), zap.String("command_id", cmd.ID), zap.String("by", by))
	return cmd, nil
}

// retireDevice retires a device now; reason (optional) is the admin's, and
// is appended to "retired by an admin" in the record and the log.
func (a *App) retireDevice(ctx context.Context, id, reason, by string) (*store.Device, error) {
	if len(reason) > maxRetireReason {
		return nil, fmt.Errorf("%w: reason over %d bytes", errBadRequest, maxRetireReason)
	}
	full := "retired by an admin"
	if reason != "" {
		full += ": " + reason
	}
	dev, err := a.management.Retire(ctx, id, full)
	if err != nil {
		return nil, err
	}
	a.logger.Warn("device retired", zap.String("device_id", id), zap.String("reason", full), zap.String("by", by))
	return dev, nil
}

// errBadRequest is a request the service refuses as given (400).
var errBadRequest = errors.New("bad request")

// maxRetireReason bounds the reason an admin gives for a retirement: it is
// kept in the record and logged (the console's form allows as much).
const maxRetireReason = 500

// wipeDevice queues a remote wipe (protected: doWipeProtected) for the
// device's next session.
func (a *App) wipeDevice(ctx context.Context, id string, protected bool, by string) (*store.Command, error) {
	cmd, err := a.management.Wipe(ctx, id, protected)
	if err != nil {
		return nil, err
	}
	a.logger.Warn("device action queued", zap.String("device_id", id), zap.String("action", cmd.Purpose), zap.String("command_id", cmd.ID), zap.String("by", by))
	return cmd, nil
}

// rebootDevice queues the Reboot CSP's RebootNow.
func (a *App) rebootDevice(ctx context.Context, id, by string) (*store.Command, error) {
	cmd, err := a.management.Reboot(ctx, id)
	if err != nil {
		return nil, err
	}
	a.logger.Warn("device action queued", zap.String("device_id", id), zap.String("action", cmd.Purpose), zap.String("command_id", cmd.ID), zap.String("by", by))
	return cmd, nil
}

// saveProfile creates or changes a profile (profile.Service.Put); changed
// is false when it was already so.
func (a *App) saveProfile(ctx context.Context, name string, req profile.PutRequest, by string) (*store.Profile, bool, error) {
	p, changed, err := a.Profiles().Put(ctx, name, req)
	return a.logProfileSave(name, p, changed, err, by)
}

// editProfile applies a console edit (profile.Service.Edit: what the form
// does not show is kept).
func (a *App) editProfile(ctx context.Context, name string, e profile.Edit, by string) (*store.Profile, bool, error) {
	p, changed, err := a.Profiles().Edit(ctx, name, e)
	return a.logProfileSave(name, p, changed, err, by)
}

// logProfileSave logs a profile change or refusal with who made it.
func (a *App) logProfileSave(name string, p *store.Profile, changed bool, err error, by string) (*store.Profile, bool, error) {
	if err != nil {
		a.logger.Info("profile refused", zap.String("profile", name), zap.Error(err), zap.String("by", by))
		return nil, false, err
	}
	if changed {
		a.logger.Info("profile saved", zap.String("profile", name), zap.String("version", p.Version), zap.String("by", by))
	}
	return p, changed, nil
}

// deleteProfile deletes a profile; its settings are removed from the
// devices at their next sessions.
func (a *App) deleteProfile(ctx context.Context, name, by string) error {
	if err := a.Profiles().Delete(ctx, name); err != nil {
		return err
	}
	a.logger.Info("profile deleted", zap.String("profile", name), zap.String("by", by))
	return nil
}

// changeLabel adds (or removes) an admin label of a device.
func (a *App) changeLabel(ctx context.Context, id, label string, add bool, by string) (*store.DeviceLabels, error) {
	svc := a.Profiles()
	change := svc.RemoveLabel
	if add {
		change = svc.AddLabel
	}
	l, err := change(ctx, id, label)
	if err != nil {
		return nil, err
	}
	a.logger.Info("device label changed", zap.String("device_id", id), zap.String("label", label), zap.Bool("added", add), zap.String("by", by))
	return l, nil
}
