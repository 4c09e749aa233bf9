package store

import (
	"context"
	"fmt"
	"time"
)

// deviceRef is an index entry pointing at a device.
type deviceRef struct {
	DeviceID string `json:"device_id"`
}

func certificateKey(thumbprint string) string { return "mdm/certificates/" + thumbprint + ".json" }
func hardwareKey(hwDevID string) string       { return "mdm/hardware/" + hwDevID + ".json" }
func historyKey(id string, t time.Time) string {
	return fmt.Sprintf("%s/history/%020d.json", deviceDir(id), t.UnixNano())
}

// IndexCertificate records which device a certificate was issued to, so a
// certificate alone (renewal, hub downloads) finds its device.
func (s *Store) IndexCertificate(ctx context.Context, thumbprint, deviceID string) error {
	if !ValidDeviceID(thumbprint) {
		return fmt.Errorf("invalid thumbprint %q", thumbprint)
	}
	return s.storeJSON(ctx, certificateKey(thumbprint), deviceRef{DeviceID: deviceID})
}

// DeviceByCertificate returns the ID of the device a certificate was issued
// to, or ErrNotFound.
func (s *Store) DeviceByCertificate(ctx context.Context, thumbprint string) (string, error) {
	return s.lookup(ctx, thumbprint, certificateKey)
}

// IndexHardware records the device ID a piece of hardware (HWDevID)
// enrolled as last.
func (s *Store) IndexHardware(ctx context.Context, hwDevID, deviceID string) error {
	if !ValidDeviceID(hwDevID) {
		return fmt.Errorf("invalid HWDevID %q", hwDevID)
	}
	return s.storeJSON(ctx, hardwareKey(hwDevID), deviceRef{DeviceID: deviceID})
}

// DeviceByHardware returns the device ID a HWDevID enrolled as last, or
// ErrNotFound.
func (s *Store) DeviceByHardware(ctx context.Context, hwDevID string) (string, error) {
	return s.lookup(ctx, hwDevID, hardwareKey)
}

func (s *Store) lookup(ctx context.Context, id string, key func(string) string) (string, error) {
	if !ValidDeviceID(id) {
		return "", ErrNotFound
	}
	var ref deviceRef
	found, err := s.loadJSON(ctx, key(id), &ref)
	if err != nil {
		return "", err
	}
	if !found || ref.DeviceID == "" {
		return "", ErrNotFound
	}
	return ref.DeviceID, nil
}

// ArchiveDevice keeps a copy of a record about to be replaced.
func (s *Store) ArchiveDevice(ctx context.Context, d *Device, now time.Time) error {
	return s.storeJSON(ctx, historyKey(d.DeviceID, now), d)
}

// History returns the records a device ID had before, oldest first.
func (s *Store) History(ctx context.Context, id string) ([]*Device, error) {
	keys, err := s.listSorted(ctx, deviceDir(id)+"/history")
	if err != nil {
		return nil, err
	}
	out := make([]*Device, 0, len(keys))
	for _, k := range keys {
		d := &Device{}
		if found, err := s.loadJSON(ctx, k, d); err != nil {
			return nil, err
		} else if found {
			out = append(out, d)
		}
	}
	return out, nil
}

// CancelQueue finishes every pending command of a device as canceled, with
// the reason, and empties the queue. Finished records are written first.
func (s *Store) CancelQueue(ctx context.Context, id, reason string, now time.Time) (int, error) {
	q, err := s.Queue(ctx, id)
	if err != nil || len(q.Commands) == 0 {
		return 0, err
	}
	for _, c := range q.Commands {
		c.State, c.Reason, c.DoneAt = CommandCanceled, reason, now
		if err := s.PutCommand(ctx, c); err != nil {
			return 0, err
		}
	}
	n := len(q.Commands)
	return n, s.PutQueue(ctx, id, &Queue{})
}

// EndSession forgets a device's session state.
func (s *Store) EndSession(ctx context.Context, id string) error {
	err := s.storage.Delete(ctx, sessionKey(id))
	if err != nil && s.storage.Exists(ctx, sessionKey(id)) {
		return err
	}
	return nil
}

// Retire takes a device out of management: it is marked retired with the
// reason, its pending commands are canceled and its session forgotten.
// Its certificate stops authenticating. The caller holds the device lock.
func (s *Store) Retire(ctx context.Context, id, reason string, now time.Time) (*Device, error) {
	d, err := s.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.CancelQueue(ctx, id, "device retired: "+reason, now); err != nil {
		return nil, err
	}
	d.State, d.StateReason, d.UpdatedAt = StateRetired, reason, now
	if err := s.PutDevice(ctx, d); err != nil {
		return nil, err
	}
	return d, s.EndSession(ctx, id)
}
