package profile

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

// Purposes mark the queue entries of the reconciler, so the statuses the
// device returns find their profile: "profile:<name>" delivers,
// "profile-remove:<name>" removes, "profile-verify:<name>" reads back.
const (
	PurposeDeliver = "profile:"
	PurposeRemove  = "profile-remove:"
	PurposeVerify  = "profile-verify:"
	// PurposeCleanup marks the Delete of a setting a profile's new version
	// no longer sets: sent once, its answer changes no profile state.
	PurposeCleanup = "profile-cleanup:"
)

// PurposeOf splits a queue entry's purpose into kind prefix and profile.
func PurposeOf(purpose string) (kind, name string, ok bool) {
	for _, k := range []string{PurposeRemove, PurposeVerify, PurposeDeliver} {
		if strings.HasPrefix(purpose, k) {
			return k, purpose[len(k):], true
		}
	}
	return "", "", false
}

// ActionKind is what the reconciler does for one profile in a session.
type ActionKind string

// Actions of the reconciler.
const (
	ActDeliver ActionKind = "deliver"
	ActRemove  ActionKind = "remove"
	ActVerify  ActionKind = "verify"
	// ActForget drops the state of a deleted profile once it is removed.
	ActForget ActionKind = "forget"
	// ActLost settles a delivery or removal some of whose commands will
	// never be answered (canceled by an admin, or lost between writes):
	// they count as failed, so the profile does not wait forever.
	ActLost ActionKind = "lost"
)

// Action is one decision for one profile on one device.
type Action struct {
	Kind    ActionKind
	Profile string
	// LocURIs are what a removal deletes; none means removed at once.
	LocURIs []string
	// Cancel are queued commands of an earlier delivery that a new one
	// supersedes, or that a removal makes moot.
	Cancel []string
	// ResetAttempts: the device changed since it failed; count afresh.
	ResetAttempts bool
}

// Input is what a session knows when it decides: nothing of other devices.
type Input struct {
	Now     time.Time
	Device  *store.Device
	Labels  map[string]bool
	Catalog *store.ProfileCatalog
	States  *store.DeviceProfiles
	// Queued reports whether a command is still in the device's queue,
	// not yet answered.
	Queued func(cmdID string) bool
}

// Fingerprint is what makes "the device changed" for a failed profile:
// a re-enrollment or another OS version.
func Fingerprint(d *store.Device) string {
	return fmt.Sprintf("%d/%s", d.EnrolledAt.UnixNano(), d.OSVersion)
}

// Decide is the reconciler: for one device in a session, what to deliver
// (new, changed, lost or retried profiles), remove (deleted profiles,
// profiles whose targets no longer include the device), read back (drift
// checks due) or forget. It reads nothing but its input, so a session
// costs the same whatever the fleet's size.
func Decide(in Input) []Action {
	names := map[string]bool{}
	for n := range in.Catalog.Profiles {
		names[n] = true
	}
	for n := range in.States.Profiles {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	vars := VarsOf(in.Device)
	fp := Fingerprint(in.Device)
	var out []Action
	for _, name := range sorted {
		meta := in.Catalog.Profiles[name]
		st := in.States.Profiles[name]
		targeted := meta != nil && Match(meta.Targets, in.Labels)
		inFlight := st != nil && anyQueued(st, in.Queued)
		switch {
		case targeted && (st == nil || st.Version != meta.Version):
			a := Action{Kind: ActDeliver, Profile: name}
			if st != nil {
				a.Cancel = queuedOf(st, in.Queued)
				// What the old version set and the new one does not is
				// deleted, unless another profile still sets it.
				a.LocURIs = stillUnset(without(st.LocURIs, meta.LocURIs, vars), name, in, vars)
			}
			out = append(out, a)
		case targeted:
			switch st.State {
			case store.ProfileSent:
				switch {
				case !inFlight && allUnanswered(st):
					// Its session ended and the queue lost it (a crash
					// between writes): deliver again.
					out = append(out, Action{Kind: ActDeliver, Profile: name})
				case !inFlight && anyUnanswered(st):
					out = append(out, Action{Kind: ActLost, Profile: name})
				}
			case store.ProfileFailed:
				if st.Fingerprint != fp {
					out = append(out, Action{Kind: ActDeliver, Profile: name, ResetAttempts: true})
				} else if st.Attempts < 1+meta.Retries {
					out = append(out, Action{Kind: ActDeliver, Profile: name})
				}
			case store.ProfileRemoving, store.ProfileRemoved:
				if !inFlight {
					out = append(out, Action{Kind: ActDeliver, Profile: name})
				}
			case store.ProfileApplied:
				if due(meta.Verify, st, in.Now) && (st.VerifyCommand == "" || !in.Queued(st.VerifyCommand)) {
					out = append(out, Action{Kind: ActVerify, Profile: name})
				}
			}
		case st != nil:
			switch st.State {
			case store.ProfileRemoved:
				if meta == nil {
					out = append(out, Action{Kind: ActForget, Profile: name})
				}
			case store.ProfileRemoving:
				switch {
				case !inFlight && allUnanswered(st):
					out = append(out, Action{Kind: ActRemove, Profile: name, LocURIs: st.LocURIs})
				case !inFlight && anyUnanswered(st):
					out = append(out, Action{Kind: ActLost, Profile: name})
				}
			default:
				out = append(out, Action{Kind: ActRemove, Profile: name,
					LocURIs: stillUnset(st.LocURIs, name, in, vars), Cancel: queuedOf(st, in.Queued)})
			}
		}
	}
	return out
}

// stillUnset are the LocURIs of a removed profile that no other profile
// targeting the device still sets: deleting those would undo a setting
// the device is meant to keep.
func stillUnset(locURIs []string, name string, in Input, vars DeviceVars) []string {
	kept := map[string]bool{}
	for other, meta := range in.Catalog.Profiles {
		if other == name || !Match(meta.Targets, in.Labels) {
			continue
		}
		for _, u := range meta.LocURIs {
			kept[NormalizeLocURI(vars.Substitute(u, false))] = true
		}
	}
	var out []string
	for _, u := range locURIs {
		if !kept[NormalizeLocURI(u)] {
			out = append(out, u)
		}
	}
	return out
}

// without returns the LocURIs of have that none of drop (profile
// LocURIs, variables not yet filled in) names.
func without(have, drop []string, vars DeviceVars) []string {
	gone := map[string]bool{}
	for _, u := range drop {
		gone[NormalizeLocURI(vars.Substitute(u, false))] = true
	}
	var out []string
	for _, u := range have {
		if !gone[NormalizeLocURI(u)] {
			out = append(out, u)
		}
	}
	return out
}

func anyQueued(st *store.ProfileState, queued func(string) bool) bool {
	return len(queuedOf(st, queued)) > 0
}

func queuedOf(st *store.ProfileState, queued func(string) bool) []string {
	var out []string
	for _, c := range st.Commands {
		if c.Status == 0 && queued(c.ID) {
			out = append(out, c.ID)
		}
	}
	return out
}

func anyUnanswered(st *store.ProfileState) bool {
	for _, c := range st.Commands {
		if c.Status == 0 {
			return true
		}
	}
	return false
}

// SettleLost settles every unanswered command of a delivery or removal as
// canceled (ActLost). It reports whether the state changed.
func SettleLost(st *store.ProfileState, now time.Time) bool {
	changed := false
	for _, c := range append([]store.ProfileCommand(nil), st.Commands...) {
		if c.Status == 0 {
			lost := &store.Command{ID: c.ID, State: store.CommandCanceled, Reason: "no answer: the command was canceled or lost"}
			changed = Settle(st, lost, now) || changed
		}
	}
	return changed
}

func allUnanswered(st *store.ProfileState) bool {
	for _, c := range st.Commands {
		if c.Status != 0 {
			return false
		}
	}
	return true
}

// due reports whether a drift check should run.
func due(v *store.ProfileVerify, st *store.ProfileState, now time.Time) bool {
	if v == nil || len(v.LocURIs) == 0 {
		return false
	}
	every, err := time.ParseDuration(v.Interval)
	if err != nil || every <= 0 {
		every = DefaultVerifyInterval
	}
	return now.Sub(st.Verified) >= every
}

// DefaultVerifyInterval is how often a drift check reads settings back
// when its interval is not given.
const DefaultVerifyInterval = 24 * time.Hour

// MinVerifyInterval bounds how often drift checks may run: each is a Get
// in a session.
const MinVerifyInterval = time.Hour

// ok2xx reports a success status.
func ok2xx(code int) bool { return code >= 200 && code < 300 }

// Settle records the device's answer to one of the profile's commands in
// its state; when every command of the delivery (or removal) is answered,
// the state becomes applied or failed (removed). It reports whether the
// state changed.
func Settle(st *store.ProfileState, cmd *store.Command, now time.Time) bool {
	i := -1
	for j, c := range st.Commands {
		if c.ID == cmd.ID {
			i = j
		}
	}
	if i < 0 || st.Commands[i].Status != 0 {
		return false // an earlier delivery's answer, or a repeat
	}
	code := cmd.Status
	switch {
	case cmd.State == store.CommandCanceled:
		code = -1
	case code == 0:
		code = int(syncml.StatusCommandFailed) // finished without a status
	}
	st.Commands[i].Status = code
	st.Updated = now
	switch st.State {
	case store.ProfileSent:
		if !ok2xx(code) {
			st.Failures = append(st.Failures, FailureDetails(cmd)...)
		}
	case store.ProfileRemoving:
		// 404: the node is gone already, which is what removal wants.
		if !ok2xx(code) && code != int(syncml.StatusNotFound) {
			st.Failures = append(st.Failures, fmt.Sprint(code))
		}
	}
	for _, c := range st.Commands {
		if c.Status == 0 {
			return true
		}
	}
	switch st.State {
	case store.ProfileSent:
		if len(st.Failures) == 0 {
			st.State = store.ProfileApplied
		} else {
			st.State = store.ProfileFailed
		}
	case store.ProfileRemoving:
		st.State = store.ProfileRemoved
		st.Reason = ""
		if len(st.Failures) > 0 {
			st.Reason = "setting left on the device: " + strings.Join(dedupe(st.Failures), ", ")
		}
		st.Failures = nil
	}
	return true
}

// FailureDetails say what failed in a command: "405 on <LocURI>" for each
// failing item, from an Atomic's child statuses when it has them.
func FailureDetails(cmd *store.Command) []string {
	if cmd.State == store.CommandCanceled {
		return []string{"canceled: " + cmd.Reason}
	}
	var out []string
	if len(cmd.Spec.Commands) > 0 {
		for i, child := range cmd.Spec.Commands {
			if i < len(cmd.ChildStatuses) && cmd.ChildStatuses[i] >= 300 {
				for _, it := range child.Items {
					out = append(out, fmt.Sprintf("%d on %s", cmd.ChildStatuses[i], it.Target))
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	for _, t := range targets(&cmd.Spec) {
		out = append(out, fmt.Sprintf("%d on %s", cmd.Status, t))
	}
	if len(out) == 0 {
		out = append(out, fmt.Sprintf("%d on %s", cmd.Status, cmd.Spec.Verb))
	}
	return out
}

func targets(s *store.CommandSpec) []string {
	var out []string
	for _, it := range s.Items {
		out = append(out, it.Target)
	}
	for i := range s.Commands {
		out = append(out, targets(&s.Commands[i])...)
	}
	return out
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// SettleVerify compares what a drift check read back with what the
// profile sets (variables filled in): a differing value marks the profile
// drifted. A Get the device refuses (many CSP nodes cannot be read) keeps
// the state and says so: trusting the device's Status codes is the rule,
// a read-back failure is no evidence of drift.
func SettleVerify(st *store.ProfileState, cmd *store.Command, want map[string]string, now time.Time) bool {
	return settleVerify(st, cmd, want, now, trace.SensitiveSpec(&cmd.Spec))
}

func settleVerify(st *store.ProfileState, cmd *store.Command, want map[string]string, now time.Time, secret bool) bool {
	if st.VerifyCommand != cmd.ID {
		return false
	}
	st.VerifyCommand = ""
	st.Verified = now
	st.Updated = now
	if cmd.State == store.CommandCanceled {
		return true
	}
	if !ok2xx(cmd.Status) {
		st.Reason = fmt.Sprintf("verify: the device answered %d to reading back; state kept", cmd.Status)
		return true
	}
	var drift []string
	for _, r := range cmd.Results {
		w, ok := want[NormalizeLocURI(r.Source)]
		switch {
		case !ok || strings.TrimSpace(r.Data) == strings.TrimSpace(w):
		case secret:
			drift = append(drift, r.Source+" differs from what the profile sets")
		default:
			drift = append(drift, fmt.Sprintf("%s is %q, the profile sets %q", r.Source, clip(r.Data), clip(w)))
		}
	}
	st.Reason = ""
	if len(drift) > 0 {
		st.State = store.ProfileDrifted
		st.Failures = drift
	}
	return true
}

// Describe is a state as shown to an admin: "removed (setting left on the
// device: 405)", "failed (405 on ./Device/...)".
func Describe(st *store.ProfileState) string {
	s := st.State
	switch {
	case st.State == store.ProfileRemoved && st.Reason != "":
		s += " (" + st.Reason + ")"
	case len(st.Failures) > 0:
		s += " (" + strings.Join(st.Failures, "; ") + ")"
	}
	return s
}
