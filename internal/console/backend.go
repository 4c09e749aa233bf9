package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Backend is what the console reads and changes. Every method is a call
// into the services the admin API uses; `by` names the admin for the
// change's log line.
type Backend interface {
	// Counts summarises the fleet (store.CountDevices).
	Counts(ctx context.Context) (*store.DeviceCounts, error)
	// FindDevices is one page of a device search (store.FindDevices).
	FindDevices(ctx context.Context, state store.DeviceState, match store.DeviceMatch, after string, limit int) ([]*store.Device, string, error)
	// Device is everything the device page shows, secrets redacted.
	Device(ctx context.Context, id string) (*DeviceData, error)

	Enqueue(ctx context.Context, id string, spec store.CommandSpec, by string) (*store.Command, error)
	Cancel(ctx context.Context, id, cmdID, by string) error
	Unenroll(ctx context.Context, id, by string) (*store.Command, error)
	Retire(ctx context.Context, id, reason, by string) error
	// Wipe queues a remote wipe (protected: doWipeProtected).
	Wipe(ctx context.Context, id string, protected bool, by string) (*store.Command, error)

	// FindLabeledDevices is FindDevices among the devices with a label.
	FindLabeledDevices(ctx context.Context, label string, state store.DeviceState, match store.DeviceMatch, after string, limit int) ([]*store.Device, string, error)
	// DeviceFleet is a device's labels and profile states.
	DeviceFleet(ctx context.Context, id string) (*profile.DeviceView, error)
	ChangeLabel(ctx context.Context, id, label string, add bool, by string) error

	// Profiles lists the profiles (the catalog).
	Profiles(ctx context.Context) ([]*store.ProfileMeta, error)
	Profile(ctx context.Context, name string) (*store.Profile, error)
	ProfileSummary(ctx context.Context, name string) (*profile.Summary, error)
	ProfileDevices(ctx context.Context, name, state, after string, limit int) (*profile.DevicePage, error)
	SaveProfile(ctx context.Context, name string, e profile.Edit, by string) (*store.Profile, bool, error)
	DeleteProfile(ctx context.Context, name, by string) error
}

// DeviceData is one device as the device page shows it. Secrets are
// redacted by the backend (the admin API's redaction).
type DeviceData struct {
	Device    store.Device
	Inventory store.Inventory
	// LastSeen, SessionID and SessionAuth describe the latest OMA-DM
	// session (LastSeen nil before the first).
	LastSeen        *time.Time
	SessionID       string
	SessionAuth     store.AuthMethod
	PendingCommands int
	Commands        []CommandData
	Trace           *store.Trace
	// TraceOff is set when the server keeps no traces (trace_exchanges 0).
	TraceOff bool
	// Actions are the wipes and reboots asked for it, with the answers.
	Actions []store.ActionRecord
}

// CommandData is a command (redacted) with its one-line description.
type CommandData struct {
	*store.Command
	Describe string
}

// Error is a backend failure with the HTTP status that fits it, as the
// admin API would answer it; the console shows its message.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// statusOf is the HTTP status of a backend error (500 when it carries none).
func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) && e.Status != 0 {
		return e.Status
	}
	return http.StatusInternalServerError
}
