package store

import (
	"context"
	"time"
)

// ActionRecord is one named device action (wipe, reboot) in the device's
// history: who asked when, and what the device answered.
type ActionRecord struct {
	// Action is "wipe", "wipe-protected" or "reboot".
	Action    string    `json:"action"`
	CommandID string    `json:"command_id"`
	Requested time.Time `json:"requested_at"`
	// State follows the command: queued, acknowledged or canceled.
	State CommandState `json:"state"`
	// Status is the device's status code, 0 until it answers.
	Status int       `json:"status,omitempty"`
	Done   time.Time `json:"done_at,omitzero"`
}

// DeviceActions is a device's action history, oldest first.
type DeviceActions struct {
	Actions []ActionRecord `json:"actions"`
}

// MaxActions bounds the action history kept per device.
const MaxActions = 50

func deviceActionsKey(id string) string { return deviceDir(id) + "/actions.json" }

// DeviceActions reads a device's action history (empty when none).
func (s *Store) DeviceActions(ctx context.Context, id string) (*DeviceActions, error) {
	a := &DeviceActions{}
	if _, err := s.loadJSON(ctx, deviceActionsKey(id), a); err != nil {
		return nil, err
	}
	return a, nil
}

// PutDeviceActions writes a device's action history, keeping the latest
// MaxActions; hold LockDevice.
func (s *Store) PutDeviceActions(ctx context.Context, id string, a *DeviceActions) error {
	if n := len(a.Actions); n > MaxActions {
		a.Actions = append([]ActionRecord(nil), a.Actions[n-MaxActions:]...)
	}
	return s.storeJSON(ctx, deviceActionsKey(id), a)
}
