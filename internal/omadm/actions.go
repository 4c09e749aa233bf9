package omadm

import (
	"context"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// Named device actions: purposes of their queue entries, which the
// session records in the device's action history when they are answered.
const (
	PurposeWipe          = "wipe"
	PurposeWipeProtected = "wipe-protected"
	PurposeReboot        = "reboot"
)

// CSP nodes of the named actions (RemoteWipe and Reboot CSPs; Exec).
const (
	// doWipe resets the device, removing user data ("Reset this PC").
	WipeURI = "./Device/Vendor/MSFT/RemoteWipe/doWipe"
	// doWipeProtected also fully cleans the drive and resists a user
	// interrupting it; some device configurations may not boot after it.
	WipeProtectedURI = "./Device/Vendor/MSFT/RemoteWipe/doWipeProtected"
	// RebootNow restarts the device at once.
	RebootURI = "./Device/Vendor/MSFT/Reboot/RebootNow"
)

// Wipe queues a remote wipe (RemoteWipe doWipe, or doWipeProtected) for
// the device's next session and records the request in its history.
// The RemoteWipe DDF gives these nodes the chr format, with no data.
func (s *Server) Wipe(ctx context.Context, deviceID string, protected bool) (*store.Command, error) {
	uri, purpose := WipeURI, PurposeWipe
	if protected {
		uri, purpose = WipeProtectedURI, PurposeWipeProtected
	}
	spec := store.CommandSpec{Verb: syncml.CmdExec, Items: []store.ItemSpec{{Target: uri, Format: "chr", Type: "text/plain"}}}
	return s.action(ctx, deviceID, spec, purpose)
}

// Reboot queues Reboot/RebootNow (format null) for the device's next
// session and records the request in its history.
func (s *Server) Reboot(ctx context.Context, deviceID string) (*store.Command, error) {
	spec := store.CommandSpec{Verb: syncml.CmdExec, Items: []store.ItemSpec{{Target: RebootURI, Format: "null", Type: "text/plain"}}}
	return s.action(ctx, deviceID, spec, PurposeReboot)
}

func (s *Server) action(ctx context.Context, deviceID string, spec store.CommandSpec, purpose string) (*store.Command, error) {
	if err := ValidateSpec(&spec); err != nil {
		return nil, err
	}
	// The command and its history record are written under one hold of
	// the device lock, so no session answers the command before its
	// record exists.
	unlock, err := s.Store.LockDeviceCtx(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cmd, err := s.enqueueLocked(ctx, deviceID, spec, purpose)
	if err != nil {
		return nil, err
	}
	h, err := s.Store.DeviceActions(ctx, deviceID)
	if err != nil {
		return cmd, err
	}
	h.Actions = append(h.Actions, store.ActionRecord{Action: purpose, CommandID: cmd.ID, Requested: cmd.CreatedAt, State: store.CommandQueued})
	return cmd, s.Store.PutDeviceActions(ctx, deviceID, h)
}

// isAction reports whether a purpose is a named action's.
func isAction(purpose string) bool {
	return purpose == PurposeWipe || purpose == PurposeWipeProtected || purpose == PurposeReboot
}
