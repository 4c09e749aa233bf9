package profile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

// MaxProfiles bounds the catalog a session reads.
const MaxProfiles = 500

// MaxAdminLabels bounds the labels an admin sets on one device.
const MaxAdminLabels = 100

// Errors of the service, for the callers to map (HTTP 404, 409, 400).
var (
	ErrNotFound       = store.ErrProfileNotFound
	ErrDeviceNotFound = store.ErrNotFound
	ErrConflict       = errors.New("profile conflict")
)

// ConflictError names the other profile and the LocURI two profiles that
// may target a common device set to different values; Device names a
// device both target when that is what makes them conflict (targets by
// admin labels), and Label the label change that would (AddLabel,
// RemoveLabel).
type ConflictError struct {
	Other  string
	LocURI string
	Mine   string
	Theirs string
	Device string
	// Profile and Label, for a refused label change: the profile the change
	// would add to the device's targets (Other already targets it), and
	// the label added or removed.
	Profile, Label string
}

func (e *ConflictError) Error() string {
	switch {
	case e.Label != "":
		return fmt.Sprintf("%v: with label %q changed, device %s would be targeted by profiles %q and %q, which set %s to %q and %q; "+
			"make the values equal, or make the targets disjoint (exclude_any)", ErrConflict, e.Label, e.Device, e.Profile, e.Other, e.LocURI, clip(e.Mine), clip(e.Theirs))
	case e.Device != "":
		return fmt.Sprintf("%v: profile %q sets %s to %q, this one to %q, and device %s is targeted by both; "+
			"make the values equal, or make the targets disjoint (exclude_any)", ErrConflict, e.Other, e.LocURI, clip(e.Theirs), clip(e.Mine), e.Device)
	}
	return fmt.Sprintf("%v: profile %q, which may target the same devices, sets %s to %q, this one to %q; "+
		"make the values equal, or make the targets disjoint (exclude_any)", ErrConflict, e.Other, e.LocURI, clip(e.Theirs), clip(e.Mine))
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// Service is the one implementation of profile and label management that
// the admin API, the CLI (through the API) and the web console call.
type Service struct {
	Store *store.Store
	Now   func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// PutRequest is a profile as an admin gives it.
type PutRequest struct {
	// The SyncML fragment: Replace/Add/Exec commands, optionally in one Atomic.
	SyncML string `json:"syncml"`
	// Labels of which a device must carry one to be targeted.
	IncludeAny []string `json:"include_any,omitempty"`
	// Labels of which a device must carry none to be targeted.
	ExcludeAny []string `json:"exclude_any,omitempty"`
	// Target every device (minus exclude_any) instead of include_any.
	All bool `json:"all,omitempty"`
	// How often a failed delivery is retried in later sessions. Default: 3.
	Retries *int `json:"retries,omitempty"`
	// Optional drift check: LocURIs read back with Get every interval.
	// Default: off.
	Verify *store.ProfileVerify `json:"verify,omitempty"`
	// The data is secret: delivered as is, never shown (API, logs,
	// traces). Default: false, but profiles setting a node whose name
	// says secret (WlanXml, *Password*, PreSharedKey, ...) are sensitive.
	Sensitive bool `json:"sensitive,omitempty"`
	// Where the profile comes from: "api" (default) or "profiles_dir".
	Source string `json:"-"`
}

// Prepare validates a request into a profile (no store access): the checks
// of an upload that need no other profile.
func Prepare(name string, req PutRequest, now time.Time) (*store.Profile, error) {
	if !store.ValidProfileName(name) {
		return nil, invalid("profile name %q: use 1 to 64 of a-z, 0-9, '.', '_', '-'", clip(name))
	}
	// Notepad and PowerShell 5 save UTF-8 with a byte order mark.
	req.SyncML = strings.TrimPrefix(req.SyncML, byteOrderMark)
	parsed, err := Validate(req.SyncML)
	if err != nil {
		return nil, err
	}
	if err := selfConsistent(parsed.Settings); err != nil {
		return nil, err
	}
	targets, err := NormalizeTargets(store.ProfileTargets{All: req.All, IncludeAny: req.IncludeAny, ExcludeAny: req.ExcludeAny})
	if err != nil {
		return nil, err
	}
	retries := DefaultRetries
	if req.Retries != nil {
		retries = *req.Retries
	}
	if retries < 0 || retries > MaxRetries {
		return nil, invalid("retries must be 0 to %d", MaxRetries)
	}
	if err := checkVerify(req.Verify, parsed.Settings); err != nil {
		return nil, err
	}
	src := req.Source
	if src == "" {
		src = "api"
	}
	sensitive := req.Sensitive
	for _, st := range parsed.Settings {
		sensitive = sensitive || trace.SecretURI(st.LocURI)
	}
	if sensitive {
		for i := range parsed.Commands {
			parsed.Commands[i].Sensitive = true
		}
	}
	return &store.Profile{
		Name: name, SyncML: req.SyncML, Version: Version(req.SyncML), Targets: targets,
		Retries: retries, Verify: req.Verify, Sensitive: sensitive, Commands: parsed.Commands, Settings: parsed.Settings,
		Source: src, Updated: now,
	}, nil
}

// Redacted returns a profile as it may be shown: a sensitive profile's
// SyncML and values are replaced by REDACTED.
func Redacted(p *store.Profile) *store.Profile {
	if p == nil || !p.Sensitive {
		return p
	}
	const r = "REDACTED"
	c := *p
	c.SyncML = r
	c.Settings = make([]store.ProfileSetting, len(p.Settings))
	for i, st := range p.Settings {
		st.Data = r
		c.Settings[i] = st
	}
	c.Commands = nil
	return &c
}

func selfConsistent(settings []store.ProfileSetting) error {
	seen := map[string]store.ProfileSetting{}
	for _, st := range settings {
		k := NormalizeLocURI(st.LocURI)
		if prev, ok := seen[k]; ok && (prev.Data != st.Data || prev.Format != st.Format) {
			return invalid("the profile sets %s twice, to different values", st.LocURI)
		}
		seen[k] = st
	}
	return nil
}

func checkVerify(v *store.ProfileVerify, settings []store.ProfileSetting) error {
	if v == nil {
		return nil
	}
	if len(v.LocURIs) == 0 || len(v.LocURIs) > 100 {
		return invalid("verify needs 1 to 100 locuris")
	}
	if v.Interval != "" {
		d, err := time.ParseDuration(v.Interval)
		if err != nil || d < MinVerifyInterval {
			return invalid("verify interval %q: give a duration of at least %s (e.g. 24h)", clip(v.Interval), MinVerifyInterval)
		}
	}
	set := map[string]bool{}
	for _, st := range settings {
		set[NormalizeLocURI(st.LocURI)] = true
	}
	for _, u := range v.LocURIs {
		if !set[NormalizeLocURI(u)] {
			return invalid("verify LocURI %q is not one the profile sets", clip(u))
		}
	}
	return nil
}

// Conflict finds a setting p makes differently from another profile that
// may target a common device (MayOverlap) by construction: profiles whose
// targets overlap only through a device carrying admin labels of both
// (ByAdminLabelsOnly) are left to ConflictsByLabels, which looks at the
// devices.
func Conflict(p *store.Profile, others []*store.Profile) *ConflictError {
	for _, o := range others {
		if !ByAdminLabelsOnly(p.Targets, o.Targets) {
			if c := clash(p, o); c != nil {
				return c
			}
		}
	}
	return nil
}

// clash is the first setting p and o, when they may overlap, make
// differently (values redacted when either is sensitive).
func clash(p, o *store.Profile) *ConflictError {
	if o.Name == p.Name || !MayOverlap(p.Targets, o.Targets) {
		return nil
	}
	mine := map[string]store.ProfileSetting{}
	for _, st := range p.Settings {
		mine[NormalizeLocURI(st.LocURI)] = st
	}
	for _, st := range o.Settings {
		if m, ok := mine[NormalizeLocURI(st.LocURI)]; ok && (m.Data != st.Data || m.Format != st.Format) {
			c := &ConflictError{Other: o.Name, LocURI: st.LocURI, Mine: m.Data, Theirs: st.Data}
			if p.Sensitive || o.Sensitive {
				c.Mine, c.Theirs = "REDACTED", "REDACTED"
			}
			return c
		}
	}
	return nil
}

// conflictsByLabels finds, among the profiles whose targets overlap with
// p's only through admin labels, one that sets a LocURI differently and
// targets a device p targets now: one listing per label of the two.
// Inactive devices count: their labels come back with them.
func (s *Service) conflictsByLabels(ctx context.Context, p *store.Profile, others []*store.Profile) (*ConflictError, error) {
	var mineSet map[string]bool
	for _, o := range others {
		if !ByAdminLabelsOnly(p.Targets, o.Targets) {
			continue
		}
		c := clash(p, o)
		if c == nil {
			continue
		}
		var err error
		if mineSet == nil {
			if mineSet, err = s.labelTargets(ctx, p.Targets); err != nil {
				return nil, err
			}
		}
		theirs, err := s.labelTargets(ctx, o.Targets)
		if err != nil {
			return nil, err
		}
		shared := ""
		for id := range mineSet {
			if theirs[id] && (shared == "" || id < shared) {
				shared = id
			}
		}
		if shared != "" {
			c.Device = shared
			return c, nil
		}
	}
	return nil, nil
}

// labelTargets lists the devices that carry an included admin label and
// no excluded one, from the label index.
func (s *Service) labelTargets(ctx context.Context, t store.ProfileTargets) (map[string]bool, error) {
	return s.selectDevices(ctx, nil, t)
}

// selectDevices is base and the devices carrying an included label, minus
// those carrying an excluded one: one label index listing per label.
func (s *Service) selectDevices(ctx context.Context, base []string, t store.ProfileTargets) (map[string]bool, error) {
	out := make(map[string]bool, len(base))
	for _, id := range base {
		out[id] = true
	}
	for _, l := range t.IncludeAny {
		ids, err := s.Store.LabelDevices(ctx, l)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			out[id] = true
		}
	}
	for _, l := range t.ExcludeAny {
		ids, err := s.Store.LabelDevices(ctx, l)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			delete(out, id)
		}
	}
	return out, nil
}

// Put creates or replaces a profile. It reports whether anything changed;
// a new SyncML (version) re-delivers to every targeted device at its next
// session. Refusals: ErrInvalid (what to fix), *ConflictError.
func (s *Service) Put(ctx context.Context, name string, req PutRequest) (*store.Profile, bool, error) {
	p, err := Prepare(name, req, s.now())
	if err != nil {
		return nil, false, err
	}
	if p.Sensitive {
		if err := s.keyVersion(ctx, p); err != nil {
			return nil, false, err
		}
	}
	unlock, err := s.Store.LockProfiles(ctx)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	cat, err := s.Store.ProfileCatalog(ctx)
	if err != nil {
		return nil, false, err
	}
	old := cat.Profiles[name]
	if old == nil && len(cat.Profiles) >= MaxProfiles {
		return nil, false, invalid("%d profiles exist, the limit", MaxProfiles)
	}
	if old != nil && old.Version == p.Version && slices.Equal(old.Targets.IncludeAny, p.Targets.IncludeAny) &&
		slices.Equal(old.Targets.ExcludeAny, p.Targets.ExcludeAny) && old.Targets.All == p.Targets.All &&
		old.Retries == p.Retries && sameVerify(old.Verify, p.Verify) && old.Source == p.Source && old.Sensitive == p.Sensitive {
		cur, err := s.Store.Profile(ctx, name)
		return cur, false, err
	}
	var others []*store.Profile
	for n := range cat.Profiles {
		if n == name {
			continue
		}
		o, err := s.Store.Profile(ctx, n)
		if errors.Is(err, store.ErrProfileNotFound) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		others = append(others, o)
	}
	if c := Conflict(p, others); c != nil {
		return nil, false, c
	}
	if c, err := s.conflictsByLabels(ctx, p, others); err != nil || c != nil {
		if err != nil {
			return nil, false, err
		}
		return nil, false, c
	}
	// Content first, then the catalog that makes sessions see it: a crash
	// between leaves the catalog on the old version, never pointing at
	// content that is not there.
	if err := s.Store.PutProfile(ctx, p); err != nil {
		return nil, false, err
	}
	cat.Profiles[name] = Meta(p)
	if err := s.Store.PutProfileCatalog(ctx, cat); err != nil {
		return nil, false, err
	}
	if old != nil && old.Version != p.Version {
		// The old version's markers count nothing any more.
		if err := s.Store.DeleteProfileVersionStatus(ctx, name, old.Version); err != nil {
			return p, true, fmt.Errorf("profile saved; removing the old version's status entries: %w", err)
		}
	}
	return p, true, nil
}

func sameVerify(a, b *store.ProfileVerify) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Interval == b.Interval && slices.Equal(a.LocURIs, b.LocURIs)
}

// Meta is a profile's catalog entry.
func Meta(p *store.Profile) *store.ProfileMeta {
	m := &store.ProfileMeta{Name: p.Name, Version: p.Version, Targets: p.Targets, Retries: p.Retries,
		Verify: p.Verify, Source: p.Source, Updated: p.Updated, Sensitive: p.Sensitive}
	for _, st := range p.Settings {
		m.LocURIs = append(m.LocURIs, st.LocURI)
	}
	return m
}

// List returns the catalog, by name. One read.
func (s *Service) List(ctx context.Context) ([]*store.ProfileMeta, error) {
	cat, err := s.Store.ProfileCatalog(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*store.ProfileMeta, 0, len(cat.Profiles))
	for _, m := range cat.Profiles {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get returns one profile.
func (s *Service) Get(ctx context.Context, name string) (*store.Profile, error) {
	return s.Store.Profile(ctx, name)
}

// Delete removes a profile: every device it was on gets Delete for its
// LocURIs (those no other targeting profile sets) at its next session.
func (s *Service) Delete(ctx context.Context, name string) error {
	unlock, err := s.Store.LockProfiles(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	cat, err := s.Store.ProfileCatalog(ctx)
	if err != nil {
		return err
	}
	if cat.Profiles[name] == nil {
		return ErrNotFound
	}
	delete(cat.Profiles, name)
	if err := s.Store.PutProfileCatalog(ctx, cat); err != nil {
		return err
	}
	return s.Store.DeleteProfile(ctx, name)
}

// Summary counts the devices of a profile per state.
type Summary struct {
	// Devices the targets select now (labels, or every stored device).
	Targeted int `json:"targeted"`
	// Devices per state: pending, sent, applied, failed, drifted (of the
	// targeted devices), removing and removed (no longer targeted).
	Counts map[string]int `json:"counts"`
}

// targetSet lists the live devices a profile's targets select: one listing
// per label (or of the devices directory for all), minus the devices the
// state index holds as unenrolled or retired (they keep their labels, but
// will never check in to apply anything), no record read.
func (s *Service) targetSet(ctx context.Context, t store.ProfileTargets) (targeted, inactive map[string]bool, err error) {
	var all []string
	if t.All {
		if all, err = s.Store.DeviceIDs(ctx); err != nil {
			return nil, nil, err
		}
	}
	out, err := s.selectDevices(ctx, all, t)
	if err != nil {
		return nil, nil, err
	}
	if inactive, err = s.Store.InactiveDeviceIDs(ctx); err != nil {
		return nil, nil, err
	}
	for id := range inactive {
		delete(out, id)
	}
	return out, inactive, nil
}

// activeStates are the states of targeted devices that markers record.
var activeStates = []string{store.ProfileSent, store.ProfileApplied, store.ProfileFailed, store.ProfileDrifted}

// Summary counts a profile's devices per state with listings only: the
// target labels' index entries and the profile version's state markers.
func (s *Service) Summary(ctx context.Context, name string) (*Summary, error) {
	_, targeted, states, err := s.membershipOf(ctx, name)
	if err != nil {
		return nil, err
	}
	sum := &Summary{Targeted: len(targeted), Counts: map[string]int{}}
	for _, st := range store.ProfileStates {
		sum.Counts[st] = 0
	}
	for _, st := range states {
		sum.Counts[st]++
	}
	for id := range targeted {
		if _, ok := states[id]; !ok {
			sum.Counts[store.ProfilePending]++
		}
	}
	return sum, nil
}

// membershipOf is membership of the catalog's profile name, with its
// catalog entry (ErrNotFound when there is none).
func (s *Service) membershipOf(ctx context.Context, name string) (*store.ProfileMeta, map[string]bool, map[string]string, error) {
	cat, err := s.Store.ProfileCatalog(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	meta := cat.Profiles[name]
	if meta == nil {
		return nil, nil, nil, ErrNotFound
	}
	targeted, states, err := s.membership(ctx, meta)
	return meta, targeted, states, err
}

// membership returns the targeted devices, and the marked state of each
// device that has one (targeted devices in an active state, others in
// removing/removed).
func (s *Service) membership(ctx context.Context, meta *store.ProfileMeta) (map[string]bool, map[string]string, error) {
	targeted, inactive, err := s.targetSet(ctx, meta.Targets)
	if err != nil {
		return nil, nil, err
	}
	states := map[string]string{}
	for _, st := range store.ProfileStates {
		if st == store.ProfilePending {
			continue
		}
		ids, err := s.Store.ProfileStatusDevices(ctx, meta.Name, meta.Version, st)
		if err != nil {
			return nil, nil, err
		}
		active := slices.Contains(activeStates, st)
		for _, id := range ids {
			switch {
			case active == targeted[id]:
				states[id] = st
			case active && states[id] == "" && !inactive[id]:
				// No longer targeted, and its next session has yet to
				// take the settings off: removing, as the state machine
				// has it from the moment the targets changed.
				states[id] = store.ProfileRemoving
			}
		}
	}
	return targeted, states, nil
}

// DeviceStatus is one device's state for a profile.
type DeviceStatus struct {
	// The device.
	DeviceID string `json:"device_id"`
	// pending, sent, applied, failed, drifted, removing or removed.
	State string `json:"state"`
	// The state with its details, e.g. "failed (405 on ./Device/...)".
	Detail string `json:"detail"`
	// Deliveries of this version so far.
	Attempts int `json:"attempts,omitempty"`
	// What failed: "405 on ./Device/Vendor/MSFT/...".
	Failures []string `json:"failures,omitempty"`
	// A note: the removal result, or a read-back the device refused.
	Reason string `json:"reason,omitempty"`
	// When the state last changed; omitted while pending.
	Updated *time.Time `json:"updated_at,omitempty"`
}

// DevicePage is one page of a profile's devices.
type DevicePage struct {
	// The devices of this page, by ID.
	Devices []DeviceStatus `json:"devices"`
	// The `after` of the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// MaxPage bounds a page of Devices.
const MaxPage = 1000

// Devices lists a profile's devices after a cursor, optionally in one
// state, with failure details: listings to find them, then one read of
// each listed device's profile states (at most limit reads).
func (s *Service) Devices(ctx context.Context, name, state, after string, limit int) (*DevicePage, error) {
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	if state != "" && !slices.Contains(store.ProfileStates, state) {
		return nil, invalid("state %q: want one of %v", clip(state), store.ProfileStates)
	}
	meta, targeted, states, err := s.membershipOf(ctx, name)
	if err != nil {
		return nil, err
	}
	var ids []string
	for id := range targeted {
		if st, ok := states[id]; (ok && (state == "" || st == state)) || (!ok && (state == "" || state == store.ProfilePending)) {
			ids = append(ids, id)
		}
	}
	for id, st := range states {
		if !targeted[id] && (state == "" || st == state) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	page := &DevicePage{Devices: []DeviceStatus{}}
	for _, id := range ids {
		if id <= after {
			continue
		}
		if len(page.Devices) == limit {
			page.Next = page.Devices[len(page.Devices)-1].DeviceID
			break
		}
		dp, err := s.Store.DeviceProfiles(ctx, id)
		if err != nil {
			return nil, err
		}
		row := statusOf(id, meta, dp.Profiles[name])
		if !targeted[id] && states[id] == store.ProfileRemoving && slices.Contains(activeStates, row.State) {
			row = removingStatus(id, dp.Profiles[name], "no longer targeted")
		}
		page.Devices = append(page.Devices, row)
	}
	return page, nil
}

// removingStatus is the state of a device whose settings of a profile come
// off at its next session (why: the profile deleted, or the device no
// longer targeted), with what its stored state said.
func removingStatus(id string, st *store.ProfileState, why string) DeviceStatus {
	u := st.Updated
	return DeviceStatus{DeviceID: id, State: store.ProfileRemoving, Detail: store.ProfileRemoving + " (" + why + "; was " + Describe(st) + ")",
		Attempts: st.Attempts, Failures: st.Failures, Reason: st.Reason, Updated: &u}
}

func statusOf(id string, meta *store.ProfileMeta, st *store.ProfileState) DeviceStatus {
	if st == nil || st.Version != meta.Version {
		return DeviceStatus{DeviceID: id, State: store.ProfilePending, Detail: store.ProfilePending}
	}
	u := st.Updated
	return DeviceStatus{DeviceID: id, State: st.State, Detail: Describe(st), Attempts: st.Attempts,
		Failures: st.Failures, Reason: st.Reason, Updated: &u}
}

// DeviceProfile is one profile's state on a device, for the device's view.
type DeviceProfile struct {
	// The profile.
	Name string `json:"name"`
	// The profile version the state is about.
	Version string `json:"version"`
	DeviceStatus
}

// DeviceView is what a device's page shows of fleet management.
type DeviceView struct {
	// Labels an admin set.
	Labels []string `json:"labels"`
	// Labels the server derives (device/user, os:<version>, wp8).
	AutoLabels []string `json:"auto_labels"`
	// Every profile that targets the device or has a state on it.
	Profiles []DeviceProfile `json:"profiles"`
}

// Device returns a device's labels and profile states: three reads.
func (s *Service) Device(ctx context.Context, id string) (*DeviceView, error) {
	dev, err := s.Store.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	labels, err := s.Store.DeviceLabels(ctx, id)
	if err != nil {
		return nil, err
	}
	dp, err := s.Store.DeviceProfiles(ctx, id)
	if err != nil {
		return nil, err
	}
	cat, err := s.Store.ProfileCatalog(ctx)
	if err != nil {
		return nil, err
	}
	auto := AutoLabels(dev)
	all := map[string]bool{}
	for _, l := range labels.Admin {
		all[l] = true
	}
	for _, l := range auto {
		all[l] = true
	}
	v := &DeviceView{Labels: append([]string{}, labels.Admin...), AutoLabels: append([]string{}, auto...), Profiles: []DeviceProfile{}}
	names := map[string]bool{}
	for n, m := range cat.Profiles {
		if Match(m.Targets, all) {
			names[n] = true
		}
	}
	for n := range dp.Profiles {
		names[n] = true
	}
	for n := range names {
		st := dp.Profiles[n]
		meta := cat.Profiles[n]
		var ds DeviceStatus
		version := ""
		switch {
		case meta != nil && (st == nil || st.Version != meta.Version) && Match(meta.Targets, all):
			ds = DeviceStatus{DeviceID: id, State: store.ProfilePending, Detail: store.ProfilePending}
			version = meta.Version
		case st != nil && dev.State == store.StateEnrolled && slices.Contains(activeStates, st.State) && (meta == nil || !Match(meta.Targets, all)):
			// Its settings come off at the device's next session (a
			// retired or unenrolled device has none).
			why := "no longer targeted"
			if meta == nil {
				why = "profile deleted"
			}
			ds = removingStatus(id, st, why)
			version = st.Version
		case st != nil:
			u := st.Updated
			ds = DeviceStatus{DeviceID: id, State: st.State, Detail: Describe(st), Attempts: st.Attempts, Failures: st.Failures, Reason: st.Reason, Updated: &u}
			version = st.Version
		default:
			continue
		}
		v.Profiles = append(v.Profiles, DeviceProfile{Name: n, Version: version, DeviceStatus: ds})
	}
	sort.Slice(v.Profiles, func(i, j int) bool { return v.Profiles[i].Name < v.Profiles[j].Name })
	return v, nil
}

// AddLabel sets an admin label on a device; the device gets (or loses)
// profiles at its next session.
func (s *Service) AddLabel(ctx context.Context, id, label string) (*store.DeviceLabels, error) {
	return s.changeLabel(ctx, id, label, true)
}

// RemoveLabel takes an admin label off a device.
func (s *Service) RemoveLabel(ctx context.Context, id, label string) (*store.DeviceLabels, error) {
	return s.changeLabel(ctx, id, label, false)
}

func (s *Service) changeLabel(ctx context.Context, id, label string, add bool) (*store.DeviceLabels, error) {
	l, err := NormalizeLabel(label, true)
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.Device(ctx, id); err != nil {
		return nil, err
	}
	// The catalog's lock first (as Put holds it while it checks conflicts
	// against the devices' labels), then the device's.
	unlockProfiles, err := s.Store.LockProfiles(ctx)
	if err != nil {
		return nil, err
	}
	defer unlockProfiles()
	unlock, err := s.Store.LockDeviceCtx(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	labels, err := s.Store.DeviceLabels(ctx, id)
	if err != nil {
		return nil, err
	}
	before := labels.All()
	has := slices.Contains(labels.Admin, l)
	switch {
	case add && has, !add && !has:
		return labels, nil
	case add:
		if len(labels.Admin) >= MaxAdminLabels {
			return nil, invalid("device %s has %d labels, the limit", id, MaxAdminLabels)
		}
		labels.Admin = append(labels.Admin, l)
		sort.Strings(labels.Admin)
	default:
		labels.Admin = slices.DeleteFunc(labels.Admin, func(x string) bool { return x == l })
	}
	if err := s.checkLabelChange(ctx, id, l, before, labels.All()); err != nil {
		return nil, err
	}
	labels.Updated = s.now()
	// The record first (what sessions read), then the index (what
	// listings read): a crash between is repaired by the next change.
	if err := s.Store.PutDeviceLabels(ctx, id, labels); err != nil {
		return nil, err
	}
	if add {
		err = s.Store.IndexLabel(ctx, l, id)
	} else {
		err = s.Store.UnindexLabel(ctx, l, id)
	}
	return labels, err
}

// checkLabelChange refuses a label change that would make a device
// targeted by two profiles setting a LocURI differently (profiles whose
// targets overlap only through admin labels: ByAdminLabelsOnly). It reads
// the catalog, and the content of the profiles the change adds to the
// device's targets and of those sharing a LocURI with them.
func (s *Service) checkLabelChange(ctx context.Context, id, label string, before, after map[string]bool) error {
	cat, err := s.Store.ProfileCatalog(ctx)
	if err != nil {
		return err
	}
	var added, targeted []*store.ProfileMeta
	for _, m := range cat.Profiles {
		if !Match(m.Targets, after) {
			continue
		}
		targeted = append(targeted, m)
		if !Match(m.Targets, before) {
			added = append(added, m)
		}
	}
	if len(added) == 0 {
		return nil
	}
	sort.Slice(targeted, func(i, j int) bool { return targeted[i].Name < targeted[j].Name })
	loaded := map[string]*store.Profile{}
	load := func(name string) (*store.Profile, error) {
		if p := loaded[name]; p != nil {
			return p, nil
		}
		p, err := s.Store.Profile(ctx, name)
		if err != nil {
			return nil, err
		}
		loaded[name] = p
		return p, nil
	}
	for _, a := range added {
		for _, o := range targeted {
			if o.Name == a.Name || !shareLocURI(a, o) {
				continue
			}
			pa, err := load(a.Name)
			if err != nil {
				return err
			}
			po, err := load(o.Name)
			if err != nil {
				return err
			}
			if c := clash(pa, po); c != nil {
				c.Profile, c.Device, c.Label = a.Name, id, label
				return c
			}
		}
	}
	return nil
}

// shareLocURI: a and b set a common node.
func shareLocURI(a, b *store.ProfileMeta) bool {
	mine := map[string]bool{}
	for _, u := range a.LocURIs {
		mine[NormalizeLocURI(u)] = true
	}
	for _, u := range b.LocURIs {
		if mine[NormalizeLocURI(u)] {
			return true
		}
	}
	return false
}

// SyncAutoLabels brings a device's automatic labels up to date with its
// record; it reports the labels to index and unindex (none when nothing
// changed, the usual case: no write).
func SyncAutoLabels(l *store.DeviceLabels, d *store.Device, now time.Time) (added, removed []string) {
	want := AutoLabels(d)
	if slices.Equal(want, l.Auto) {
		return nil, nil
	}
	have := set(l.Auto)
	for _, x := range want {
		if !have[x] {
			added = append(added, x)
		}
	}
	w := set(want)
	for _, x := range l.Auto {
		if !w[x] {
			removed = append(removed, x)
		}
	}
	l.Auto = want
	l.Updated = now
	return added, removed
}
