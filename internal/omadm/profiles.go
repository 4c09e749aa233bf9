package omadm

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// fleetWork is what an exchange does for fleet management: the device's
// labels, profile states and action history, loaded only when needed (a
// new session; answers to profile or action commands), and the writes
// they need, made after the exchange's own (see saveFleet).
type fleetWork struct {
	labels         *store.DeviceLabels
	labelsDirty    bool
	index, unindex []string
	catalog        *store.ProfileCatalog
	states         *store.DeviceProfiles
	statesDirty    bool
	markers        []statusMove
	actions        *store.DeviceActions
	actionsDirty   bool
	// settled are the finished commands already applied to the profile
	// states and action history: settleFleet runs before the reply (the
	// device's answers) and after it (commands the reply itself finished,
	// e.g. too large for the device's MaxObjSize).
	settled map[string]bool
}

// statusMove moves a device's status marker of a profile.
type statusMove struct {
	name, version, from, to string
}

// reconcile settles the answers to profile commands in this message and,
// at the start of a session, brings the device's profiles to the desired
// state: it queues deliveries, retries, removals and drift checks ahead
// of dispatch, so they leave in this reply after what was queued before.
func (x *exchange) reconcile(ctx context.Context) error {
	if err := x.settleFleet(ctx); err != nil {
		return err
	}
	if !x.newSession || x.dev.State != store.StateEnrolled {
		return nil
	}
	return x.decideFleet(ctx)
}

func (x *exchange) loadStates(ctx context.Context) error {
	if x.fleet.states != nil {
		return nil
	}
	var err error
	x.fleet.states, err = x.s.Store.DeviceProfiles(ctx, x.dev.DeviceID)
	return err
}

func (x *exchange) loadCatalog(ctx context.Context) error {
	if x.fleet.catalog != nil {
		return nil
	}
	var err error
	x.fleet.catalog, err = x.s.Store.ProfileCatalog(ctx)
	return err
}

// move records a state change for the status markers.
func (x *exchange) move(name string, before *store.ProfileState, after *store.ProfileState) {
	var bv, bs, av, as string
	if before != nil {
		bv, bs = before.Version, before.State
	}
	if after != nil {
		av, as = after.Version, after.State
	}
	if bv == av && bs == as {
		return
	}
	if bv != "" && bv != av {
		x.fleet.markers = append(x.fleet.markers, statusMove{name: name, version: bv, from: bs})
		bs = ""
	}
	if av != "" {
		x.fleet.markers = append(x.fleet.markers, statusMove{name: name, version: av, from: bs, to: as})
	}
}

// settleFleet records the device's answers to profile and action commands.
func (x *exchange) settleFleet(ctx context.Context) error {
	for _, cmd := range x.finished {
		if x.fleet.settled[cmd.ID] {
			continue
		}
		if x.fleet.settled == nil {
			x.fleet.settled = map[string]bool{}
		}
		x.fleet.settled[cmd.ID] = true
		if isAction(cmd.Purpose) {
			if err := x.settleAction(ctx, cmd); err != nil {
				return err
			}
			continue
		}
		kind, name, ok := profile.PurposeOf(cmd.Purpose)
		if !ok {
			continue
		}
		if err := x.loadStates(ctx); err != nil {
			return err
		}
		st := x.fleet.states.Profiles[name]
		if st == nil {
			continue
		}
		before := *st
		changed := false
		if kind == profile.PurposeVerify {
			want, err := x.expected(ctx, name, st.Version)
			if err != nil {
				return err
			}
			changed = profile.SettleVerify(st, cmd, want, x.now)
		} else {
			changed = profile.Settle(st, cmd, x.now)
		}
		if changed {
			x.fleet.statesDirty = true
			x.move(name, &before, st)
			if st.State == store.ProfileFailed || st.State == store.ProfileDrifted {
				x.report.Notes = append(x.report.Notes, "profile "+name+": "+profile.Describe(st))
			}
		}
	}
	return nil
}

// expected are the values a profile version sets, variables filled in,
// for a drift check.
func (x *exchange) expected(ctx context.Context, name, version string) (map[string]string, error) {
	p, err := x.s.Store.Profile(ctx, name)
	if errors.Is(err, store.ErrProfileNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if p.Version != version {
		return nil, nil
	}
	vars := profile.VarsOf(x.dev)
	want := map[string]string{}
	for _, s := range p.Settings {
		want[profile.NormalizeLocURI(vars.Substitute(s.LocURI, false))] = vars.Substitute(s.Data, false)
	}
	return want, nil
}

func (x *exchange) settleAction(ctx context.Context, cmd *store.Command) error {
	if x.fleet.actions == nil {
		var err error
		if x.fleet.actions, err = x.s.Store.DeviceActions(ctx, x.dev.DeviceID); err != nil {
			return err
		}
	}
	for i := range x.fleet.actions.Actions {
		a := &x.fleet.actions.Actions[i]
		if a.CommandID == cmd.ID {
			a.State, a.Status, a.Done = cmd.State, cmd.Status, x.now
			x.fleet.actionsDirty = true
		}
	}
	return nil
}

// decideFleet runs the reconciler for the device at the start of a
// session: three reads (labels, profile states, catalog), plus one per
// profile to deliver; nothing of any other device.
func (x *exchange) decideFleet(ctx context.Context) error {
	st := x.s.Store
	id := x.dev.DeviceID
	var err error
	if x.fleet.labels, err = st.DeviceLabels(ctx, id); err != nil {
		return err
	}
	if add, rm := profile.SyncAutoLabels(x.fleet.labels, x.dev, x.now); len(add)+len(rm) > 0 {
		x.fleet.labelsDirty = true
		x.fleet.index, x.fleet.unindex = add, rm
	}
	if err := x.loadCatalog(ctx); err != nil {
		return err
	}
	if err := x.loadStates(ctx); err != nil {
		return err
	}
	if len(x.fleet.catalog.Profiles) == 0 && len(x.fleet.states.Profiles) == 0 {
		return nil
	}
	queued := map[string]bool{}
	for _, c := range x.queue.Commands {
		if !c.Done() && x.finished[c.ID] == nil {
			queued[c.ID] = true
		}
	}
	acts := profile.Decide(profile.Input{
		Now: x.now, Device: x.dev, Labels: x.fleet.labels.All(), Catalog: x.fleet.catalog,
		States: x.fleet.states, Queued: func(id string) bool { return queued[id] },
	})
	for _, a := range acts {
		for _, cid := range a.Cancel {
			if c := x.pending(cid); c != nil && c.State == store.CommandQueued {
				c.State, c.Reason, c.DoneAt = store.CommandCanceled, "superseded: profile "+a.Profile+" changed", x.now
				x.finished[c.ID] = c
				x.queueDirty = true
			}
		}
		if err := x.act(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// act carries out one decision of the reconciler.
func (x *exchange) act(ctx context.Context, a profile.Action) error {
	states := x.fleet.states.Profiles
	old := states[a.Profile]
	var before *store.ProfileState
	if old != nil {
		b := *old
		before = &b
	}
	switch a.Kind {
	case profile.ActLost:
		if !profile.SettleLost(old, x.now) {
			return nil
		}
		x.report.Notes = append(x.report.Notes, "profile "+a.Profile+": "+profile.Describe(old))
	case profile.ActForget:
		delete(states, a.Profile)
		x.fleet.statesDirty = true
		return nil
	case profile.ActDeliver:
		p, err := x.s.Store.Profile(ctx, a.Profile)
		if errors.Is(err, store.ErrProfileNotFound) {
			return nil // deleted since the catalog was read
		}
		if err != nil {
			return err
		}
		if len(x.queue.Commands)+len(p.Commands) > MaxQueuedCommands || queuedData(x.queue)+profileData(p) > MaxQueuedData {
			x.report.Notes = append(x.report.Notes, "profile "+a.Profile+" waits: the device's queue is full")
			return nil
		}
		for _, uri := range a.LocURIs {
			if _, err := x.queueCommand(store.CommandSpec{Verb: syncml.CmdDelete, Items: []store.ItemSpec{{Target: uri}}}, profile.PurposeCleanup+a.Profile); err != nil {
				return err
			}
		}
		vars := profile.VarsOf(x.dev)
		next := &store.ProfileState{Version: p.Version, State: store.ProfileSent, Attempts: 1,
			Fingerprint: profile.Fingerprint(x.dev), Updated: x.now}
		if old != nil && old.Version == p.Version && !a.ResetAttempts {
			next.Attempts = old.Attempts + 1
		}
		for _, s := range p.Settings {
			next.LocURIs = append(next.LocURIs, vars.Substitute(s.LocURI, false))
		}
		for _, spec := range vars.Commands(p.Commands) {
			if err := ValidateSpec(&spec); err != nil {
				next.State, next.Failures = store.ProfileFailed, []string{"not delivered: " + err.Error()}
				break
			}
			c, err := x.queueCommand(spec, profile.PurposeDeliver+a.Profile)
			if err != nil {
				return err
			}
			next.Commands = append(next.Commands, store.ProfileCommand{ID: c.ID})
		}
		if next.State == store.ProfileFailed {
			x.dropQueued(next)
		}
		states[a.Profile] = next
		x.report.Notes = append(x.report.Notes, fmt.Sprintf("profile %s version %s: delivery %d", a.Profile, p.Version, next.Attempts))
	case profile.ActRemove:
		next := &store.ProfileState{Version: old.Version, State: store.ProfileRemoving, LocURIs: old.LocURIs, Updated: x.now}
		for _, uri := range a.LocURIs {
			c, err := x.queueCommand(store.CommandSpec{Verb: syncml.CmdDelete, Items: []store.ItemSpec{{Target: uri}}}, profile.PurposeRemove+a.Profile)
			if err != nil {
				return err
			}
			next.Commands = append(next.Commands, store.ProfileCommand{ID: c.ID})
		}
		if len(next.Commands) == 0 {
			next.State = store.ProfileRemoved // nothing of its own left to delete
		}
		states[a.Profile] = next
	case profile.ActVerify:
		meta := x.fleet.catalog.Profiles[a.Profile]
		vars := profile.VarsOf(x.dev)
		// A sensitive profile's read-back results stay out of logs and traces.
		spec := store.CommandSpec{Verb: syncml.CmdGet, Sensitive: meta.Sensitive}
		for _, u := range meta.Verify.LocURIs {
			spec.Items = append(spec.Items, store.ItemSpec{Target: vars.Substitute(u, false)})
		}
		c, err := x.queueCommand(spec, profile.PurposeVerify+a.Profile)
		if err != nil {
			return err
		}
		next := *old
		next.VerifyCommand = c.ID
		states[a.Profile] = &next
	}
	x.fleet.statesDirty = true
	x.move(a.Profile, before, states[a.Profile])
	return nil
}

// queueCommand appends a command to the device's queue in this exchange
// (the device's lock is held), behind what an admin queued before.
func (x *exchange) queueCommand(spec store.CommandSpec, purpose string) (*store.Command, error) {
	id, err := x.s.newCommandID()
	if err != nil {
		return nil, err
	}
	c := &store.Command{ID: id, DeviceID: x.dev.DeviceID, Spec: spec, Purpose: purpose, State: store.CommandQueued, CreatedAt: x.now}
	x.queue.Commands = append(x.queue.Commands, c)
	x.queueDirty = true
	return c, nil
}

// dropQueued takes a failed delivery's commands back out of the queue.
func (x *exchange) dropQueued(st *store.ProfileState) {
	drop := map[string]bool{}
	for _, c := range st.Commands {
		drop[c.ID] = true
	}
	kept := x.queue.Commands[:0]
	for _, c := range x.queue.Commands {
		if !drop[c.ID] {
			kept = append(kept, c)
		}
	}
	x.queue.Commands = kept
	st.Commands = nil
}

// saveFleet writes what the exchange changed of fleet management, after
// the queue and commands (save): a crash between repeats a delivery
// (at least once), never loses one. Status markers of a profile version
// that is no longer current (or of a deleted profile) are not written.
func (x *exchange) saveFleet(ctx context.Context) error {
	st := x.s.Store
	id := x.dev.DeviceID
	f := &x.fleet
	if f.labelsDirty {
		if err := st.PutDeviceLabels(ctx, id, f.labels); err != nil {
			return err
		}
		for _, l := range f.index {
			if err := st.IndexLabel(ctx, l, id); err != nil {
				return err
			}
		}
		for _, l := range f.unindex {
			if err := st.UnindexLabel(ctx, l, id); err != nil {
				return err
			}
		}
	}
	if f.statesDirty {
		if err := st.PutDeviceProfiles(ctx, id, f.states); err != nil {
			return err
		}
	}
	if len(f.markers) > 0 {
		if err := x.loadCatalog(ctx); err != nil {
			return err
		}
		for _, m := range f.markers {
			meta := f.catalog.Profiles[m.name]
			if meta == nil {
				continue
			}
			to := m.to
			if m.version != meta.Version {
				to = ""
			}
			if err := st.SetProfileStatus(ctx, m.name, m.version, m.from, to, id); err != nil {
				return err
			}
		}
	}
	if f.actionsDirty {
		if err := st.PutDeviceActions(ctx, id, f.actions); err != nil {
			return err
		}
	}
	return nil
}
