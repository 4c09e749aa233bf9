package caddymdm

import (
	"context"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/console"
	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

// consoleBackend gives the console the operations the admin API uses
// (deviceservice.go, the store, the profile service), with their errors
// carrying the status the admin API would answer.
type consoleBackend struct {
	app     *App
	summary *store.CountCache
}

// overviewMaxAge is how old the overview's charts and renewals may be.
const overviewMaxAge = time.Minute

// consoleErr wraps an operation's error with its HTTP status.
func consoleErr(err error) error {
	if err == nil {
		return nil
	}
	return &console.Error{Status: serviceStatus(err), Msg: err.Error()}
}

// defaultRenewalPeriod is the renewal window when none is configured, as
// the enrollment service announces it.
const defaultRenewalPeriod = 42 * 24 * time.Hour

// Counts answers the overview: devices per state fresh from the state
// index (no record read), the charts and renewals from a walk of the fleet
// kept for overviewMaxAge (store.CountCache), so that an overview costs
// about two reads per device at most once a minute.
func (b *consoleBackend) Counts(ctx context.Context) (*store.DeviceCounts, error) {
	period := time.Duration(b.app.RenewalPeriod)
	if period <= 0 {
		period = defaultRenewalPeriod
	}
	walked, err := b.summary.Get(ctx, time.Now(), func(ctx context.Context) (*store.DeviceCounts, error) {
		return b.app.store.CountDevices(ctx, time.Now(), period, b.app.management.Session)
	})
	if err != nil {
		return nil, consoleErr(err)
	}
	byState, err := b.app.store.DeviceStateCounts(ctx)
	if err != nil {
		return nil, consoleErr(err)
	}
	c := *walked
	c.ByState, c.Total = byState, 0
	for _, n := range byState {
		c.Total += n
	}
	return &c, nil
}

// redactedDevices replaces each record of a page by its redacted copy:
// pages never carry device secrets.
func redactedDevices(devs []*store.Device) []*store.Device {
	for i, d := range devs {
		r := d.Redacted()
		devs[i] = &r
	}
	return devs
}

func (b *consoleBackend) FindDevices(ctx context.Context, state store.DeviceState, match store.DeviceMatch, after string, limit int) ([]*store.Device, string, error) {
	devs, next, err := b.app.store.FindDevices(ctx, state, match, after, limit, 0)
	if err != nil {
		return nil, "", consoleErr(err)
	}
	return redactedDevices(devs), next, nil
}

func (b *consoleBackend) Device(ctx context.Context, id string) (*console.DeviceData, error) {
	det, err := b.app.deviceDetail(ctx, id)
	if err != nil {
		return nil, consoleErr(err)
	}
	cmds, err := b.app.management.Commands(ctx, id)
	if err != nil {
		return nil, consoleErr(err)
	}
	d := &console.DeviceData{Device: det.Device, Inventory: det.Inventory, LastSeen: det.LastSeen,
		SessionID: det.SessionID, SessionAuth: det.SessionAuth, PendingCommands: det.PendingCommands,
		TraceOff: b.app.TraceExchanges == 0}
	for _, c := range trace.Commands(cmds) {
		d.Commands = append(d.Commands, console.CommandData{Command: c, Describe: describeSpec(&c.Spec)})
	}
	acts, err := b.app.store.DeviceActions(ctx, id)
	if err != nil {
		return nil, consoleErr(err)
	}
	d.Actions = acts.Actions
	if !d.TraceOff {
		if d.Trace, err = b.app.store.Trace(ctx, id); err != nil {
			return nil, consoleErr(err)
		}
	}
	return d, nil
}

func (b *consoleBackend) Enqueue(ctx context.Context, id string, spec store.CommandSpec, by string) (*store.Command, error) {
	cmd, err := b.app.queueCommand(ctx, id, spec, by)
	return cmd, consoleErr(err)
}

func (b *consoleBackend) Cancel(ctx context.Context, id, cmdID, by string) error {
	_, err := b.app.cancelCommand(ctx, id, cmdID, by)
	return consoleErr(err)
}

func (b *consoleBackend) Unenroll(ctx context.Context, id, by string) (*store.Command, error) {
	cmd, err := b.app.unenrollDevice(ctx, id, by)
	return cmd, consoleErr(err)
}

func (b *consoleBackend) Retire(ctx context.Context, id, reason, by string) error {
	_, err := b.app.retireDevice(ctx, id, reason, by)
	return consoleErr(err)
}

func (b *consoleBackend) Wipe(ctx context.Context, id string, protected bool, by string) (*store.Command, error) {
	cmd, err := b.app.wipeDevice(ctx, id, protected, by)
	return cmd, consoleErr(err)
}

// fleetErr wraps a profile service error with its HTTP status.
func fleetErr(err error) error {
	if err == nil {
		return nil
	}
	return &console.Error{Status: fleetStatus(err), Msg: err.Error()}
}

func (b *consoleBackend) FindLabeledDevices(ctx context.Context, label string, state store.DeviceState, match store.DeviceMatch, after string, limit int) ([]*store.Device, string, error) {
	devs, next, err := b.app.store.FindLabeledDevices(ctx, label, state, match, after, limit, 0)
	if err != nil {
		return nil, "", consoleErr(err)
	}
	return redactedDevices(devs), next, nil
}

func (b *consoleBackend) DeviceFleet(ctx context.Context, id string) (*profile.DeviceView, error) {
	v, err := b.app.Profiles().Device(ctx, id)
	return v, fleetErr(err)
}

func (b *consoleBackend) ChangeLabel(ctx context.Context, id, label string, add bool, by string) error {
	_, err := b.app.changeLabel(ctx, id, label, add, by)
	return fleetErr(err)
}

func (b *consoleBackend) Profiles(ctx context.Context) ([]*store.ProfileMeta, error) {
	l, err := b.app.Profiles().List(ctx)
	return l, fleetErr(err)
}

func (b *consoleBackend) Profile(ctx context.Context, name string) (*store.Profile, error) {
	p, err := b.app.Profiles().Get(ctx, name)
	return profile.Redacted(p), fleetErr(err)
}

func (b *consoleBackend) ProfileSummary(ctx context.Context, name string) (*profile.Summary, error) {
	s, err := b.app.Profiles().Summary(ctx, name)
	return s, fleetErr(err)
}

func (b *consoleBackend) ProfileDevices(ctx context.Context, name, state, after string, limit int) (*profile.DevicePage, error) {
	p, err := b.app.Profiles().Devices(ctx, name, state, after, limit)
	return p, fleetErr(err)
}

func (b *consoleBackend) SaveProfile(ctx context.Context, name string, e profile.Edit, by string) (*store.Profile, bool, error) {
	p, changed, err := b.app.editProfile(ctx, name, e, by)
	return p, changed, fleetErr(err)
}

func (b *consoleBackend) DeleteProfile(ctx context.Context, name, by string) error {
	return fleetErr(b.app.deleteProfile(ctx, name, by))
}
