package store

import (
	"context"
	"time"
)

// DeviceProfiles holds the state of every profile of one device: one key
// per device, so a session reads all of them with one load.
type DeviceProfiles struct {
	Profiles map[string]*ProfileState `json:"profiles"`
}

// ProfileState is where one profile stands on one device.
type ProfileState struct {
	// Version is the profile version the state is about.
	Version string `json:"version"`
	State   string `json:"state"`
	// Attempts counts deliveries of this version.
	Attempts int `json:"attempts,omitempty"`
	// Commands are the queue entries of the delivery (or removal) in
	// flight, with their status codes once answered (0 before).
	Commands []ProfileCommand `json:"commands,omitempty"`
	// Failures say what failed: "405 on ./Device/Vendor/...".
	Failures []string `json:"failures,omitempty"`
	// Reason is a note on the state (removal result, conflict, ...).
	Reason string `json:"reason,omitempty"`
	// LocURIs are the nodes the delivered version set, for removal.
	LocURIs []string `json:"locuris,omitempty"`
	// Fingerprint is what the device was when the state was reached
	// (enrollment time and OS); a change lets a failed profile retry.
	Fingerprint string    `json:"fingerprint,omitempty"`
	Updated     time.Time `json:"updated_at"`
	// Verified is when the drift check last read the settings back.
	Verified time.Time `json:"verified_at,omitzero"`
	// VerifyCommand is the Get of a drift check in flight.
	VerifyCommand string `json:"verify_command,omitempty"`
}

// ProfileCommand is one queue entry of a profile delivery.
type ProfileCommand struct {
	ID     string `json:"id"`
	Status int    `json:"status,omitempty"`
}

func deviceProfilesKey(id string) string { return deviceDir(id) + "/profiles.json" }

// DeviceProfiles reads a device's profile states (empty when none).
func (s *Store) DeviceProfiles(ctx context.Context, id string) (*DeviceProfiles, error) {
	dp := &DeviceProfiles{}
	if _, err := s.loadJSON(ctx, deviceProfilesKey(id), dp); err != nil {
		return nil, err
	}
	if dp.Profiles == nil {
		dp.Profiles = map[string]*ProfileState{}
	}
	return dp, nil
}

// PutDeviceProfiles writes a device's profile states; hold LockDevice.
func (s *Store) PutDeviceProfiles(ctx context.Context, id string, dp *DeviceProfiles) error {
	return s.storeJSON(ctx, deviceProfilesKey(id), dp)
}
