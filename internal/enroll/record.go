package enroll

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/lifecycle"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// record stores a new enrollment. A re-enrollment never leaves two live
// records for one device: the earlier record of the same DeviceID is kept
// in its history and its pending commands are canceled, and another live
// DeviceID of the same hardware (HWDevID) is retired. Indexes are written
// before the record they point at, so a crash leaves at worst an index
// entry that lookups check against the record. The caller holds the
// device's lock and has checked MayReEnroll under it.
func (s *Service) record(ctx context.Context, dev *store.Device, now time.Time) error {
	st := s.Store
	lc := &lifecycle.Service{Store: st, Now: func() time.Time { return now }, Events: s.Events}
	if old, err := st.Device(ctx, dev.DeviceID); err == nil {
		if err := lc.ReplaceRecord(ctx, old); err != nil {
			return err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if dev.HWDevID != "" && store.ValidDeviceID(dev.HWDevID) {
		if err := s.retireOtherIdentity(ctx, lc, dev); err != nil {
			return err
		}
		if err := st.IndexHardware(ctx, dev.HWDevID, dev.DeviceID); err != nil {
			return err
		}
	}
	if err := s.indexCertificate(ctx, dev.Certificate.Thumbprint, dev.DeviceID); err != nil {
		return err
	}
	return st.PutDevice(ctx, dev)
}

// indexCertificate records which device a certificate was issued to when
// its subject does not say so. A certificate whose common name is the
// device ID (SubjectCommonName: every Windows device ID) needs no entry:
// certauth.Lookup reads the name, which saves a durable write per
// enrollment and renewal and a file per device.
func (s *Service) indexCertificate(ctx context.Context, thumbprint, deviceID string) error {
	if SubjectCommonName(deviceID) == deviceID {
		return nil
	}
	return s.Store.IndexCertificate(ctx, thumbprint, deviceID)
}

// retireOtherIdentity retires the live record the same hardware enrolled
// under another DeviceID (a reset PC gets a new one).
func (s *Service) retireOtherIdentity(ctx context.Context, lc *lifecycle.Service, dev *store.Device) error {
	st := s.Store
	otherID, err := st.DeviceByHardware(ctx, dev.HWDevID)
	if errors.Is(err, store.ErrNotFound) || otherID == dev.DeviceID {
		return nil
	}
	if err != nil {
		return err
	}
	unlock, err := st.LockDeviceCtx(ctx, otherID)
	if err != nil {
		return err
	}
	defer unlock()
	other, err := st.Device(ctx, otherID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && other.State == store.StateRetired) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = lc.Retire(ctx, otherID, lifecycle.HardwareReEnrolled(dev.DeviceID))
	return err
}
