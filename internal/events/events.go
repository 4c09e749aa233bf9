// Package events is how the services (enrollment, management, lifecycle,
// profiles) tell the outside what happened, for metrics: an Observer with
// one method per kind of event, called after the change it reports is
// stored. caddymdm implements it on Caddy's Prometheus registry; nil
// means nobody listens (Or gives a no-op).
//
// Every field is of bounded cardinality: results, reasons, auth methods
// and states come from fixed sets; no device ID, user name or address is
// ever reported, so a metric label can hold any of them.
package events

import "time"

// Observer receives events. Its methods must be cheap and never block:
// they run on the request path, some under a device lock.
type Observer interface {
	// Enrollment is one discovery, policy, enrollment or renewal request
	// answered.
	Enrollment(Enrollment)
	// Management is one OMA-DM message answered.
	Management(Management)
	// AuthFailure is one refused credential, enrollment or management.
	AuthFailure(AuthFailure)
	// Commands reports commands that changed state, after the change is
	// stored.
	Commands(CommandChange)
	// ProfileState reports one device's profile moving between states.
	ProfileState(ProfileChange)
}

// Or returns o, or a no-op observer when o is nil.
func Or(o Observer) Observer {
	if o == nil {
		return Nop{}
	}
	return o
}

// Nop ignores every event.
type Nop struct{}

// Enrollment implements Observer.
func (Nop) Enrollment(Enrollment) {}

// Management implements Observer.
func (Nop) Management(Management) {}

// AuthFailure implements Observer.
func (Nop) AuthFailure(AuthFailure) {}

// Commands implements Observer.
func (Nop) Commands(CommandChange) {}

// ProfileState implements Observer.
func (Nop) ProfileState(ProfileChange) {}

// Enrollment operations.
const (
	OpDiscovery = "discovery"
	OpEnroll    = "enroll"
	OpRenew     = "renew"
	OpPolicy    = "policy"
)

// Results of an enrollment request: ResultOK, or the MS-MDE2 fault it was
// refused with, lower-cased (authentication, authorization,
// messageformat, certificaterequest, enrollmentserver,
// internalservicefault, noteligibletorenew, ...).
const ResultOK = "ok"

// Enrollment is one Discover, GetPolicies or RequestSecurityToken answered.
type Enrollment struct {
	// Op is OpDiscovery, OpPolicy, OpEnroll or OpRenew.
	Op string
	// Result is ResultOK or the fault's type, lower-cased.
	Result string
	// Policy is the configured AuthPolicy (OnPremise, Federated,
	// Certificate), whatever credential a renewal presented.
	Policy   string
	Duration time.Duration
}

// Management results.
const (
	// MgmtAuthenticated: a message accepted (its session authenticated).
	MgmtAuthenticated = "authenticated"
	// MgmtChallenged: refused with a digest challenge (401/407), which a
	// digest session's first message always gets.
	MgmtChallenged = "challenged"
	// MgmtRefused: refused outright (403, unknown or departed device, bad
	// version, malformed).
	MgmtRefused = "refused"
	// MgmtError: the server failed (storage), or the message was not
	// SyncML at all.
	MgmtError = "error"
)

// Management is one OMA-DM message answered.
type Management struct {
	Result string
	// Auth is certificate, digest, or "" when refused.
	Auth string
	// NewSession is set on the first message of a session.
	NewSession bool
	// Unenrolled is set when the device left management in this message.
	Unenrolled bool
	Duration   time.Duration
}

// Services of an authentication failure.
const (
	ServiceEnrollment = "enrollment"
	ServiceManagement = "management"
)

// Reasons of an authentication failure.
const (
	// ReasonInvalidCredentials: a wrong password, token, digest or
	// certificate for enrollment.
	ReasonInvalidCredentials = "invalid_credentials"
	// ReasonMissingCredentials: none given where they were needed (not
	// the first, normal, challenge of a digest session).
	ReasonMissingCredentials = "missing_credentials"
	// ReasonRateLimited: refused before checking, too many failures.
	ReasonRateLimited = "rate_limited"
	// ReasonNotOwner: a live device enrolled by another user.
	ReasonNotOwner = "not_owner"
	// ReasonCertificate: a client certificate that is not the device's
	// live one (another device's, expired, superseded, unknown CA).
	ReasonCertificate = "certificate"
	// ReasonDeviceState: a device that is unknown, retired or unenrolled.
	ReasonDeviceState = "device_state"
	// ReasonSessionToken: a digest session continued without its token.
	ReasonSessionToken = "session_token"
)

// AuthFailure is one refused credential.
type AuthFailure struct {
	Service string
	Reason  string
}

// CommandChange counts commands that changed state in one stored change.
type CommandChange struct {
	// Queued were added to a queue.
	Queued int
	// Sent were put in a message to the device (each delivery counts,
	// a resend too).
	Sent int
	// Acknowledged got the device's final status.
	Acknowledged int
	// Canceled were canceled (by an admin, or because the device left or
	// enrolled again) before their final status.
	Canceled int
}

// Empty reports whether nothing changed.
func (c CommandChange) Empty() bool { return c == CommandChange{} }

// ProfileChange is one device's profile moving from one state to
// another. From is "" when the device had no state for the profile, To is
// "" when the state is dropped (the profile or the device removed).
// States are the profile package's own fixed names (e.g. pending,
// applied, failed).
type ProfileChange struct {
	From, To string
}
