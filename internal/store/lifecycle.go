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

// EndSession forgets a device's session state (a retirement, a
// re-enrollment): no session can be continued after it. What stays is when
// the device was last seen, how and through which node, in an ended record
// without a SessionID, which no message can name: an admin looking at a
// retired device still sees when it last checked in.
func (s *Store) EndSession(ctx context.Context, id string) error {
	ss, err := s.DeviceSessions(ctx, id)
	if err != nil {
		return err
	}
	last := ss.Latest()
	if last == nil {
		return nil
	}
	kept := &Session{StartedAt: last.StartedAt, LastSeen: last.LastSeen, Authenticated: last.Authenticated, Node: last.Node, Ended: true}
	return s.PutDeviceSessions(ctx, id, &Sessions{Sessions: []*Session{kept}})
}
