package enroll

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/certauth"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// PeerProof is what the TLS handshake proved: the thumbprint of the client
// certificate presented, and whether it chains to the device CA for client
// authentication, unexpired. The zero value is "no certificate".
type PeerProof struct {
	Thumbprint string
	Verified   bool
}

// OwnershipError refuses an enrollment that would take over a live device
// enrolled by another user. It names no secret: it is logged.
type OwnershipError struct {
	// User is the enrolling user; DeviceID and HWDevID what the request named.
	User, DeviceID, HWDevID string
	// Owner enrolled OwnerDeviceID, the live record the request would replace
	// (same DeviceID) or retire (same HWDevID).
	Owner, OwnerDeviceID string
}

func (e *OwnershipError) Error() string {
	return fmt.Sprintf("user %q may not enroll device %s (HWDevID %q): device %s is enrolled by %q and must be retired by an admin first",
		e.User, e.DeviceID, e.HWDevID, e.OwnerDeviceID, e.Owner)
}

// MayReEnroll decides whether user may enroll deviceID (hardware hwDevID)
// over the records it would replace or retire: the record of the same
// DeviceID and the record the same HWDevID enrolled as last. A record that
// is not live (retired or unenrolled, as an admin leaves it) is free. A live
// one may be taken over only by its owner (user names compare without
// regard to case) or by a connection presenting that device's current
// certificate, or its previous one during a renewal overlap, verified
// against the device CA. Otherwise the answer is an *OwnershipError.
func MayReEnroll(user, deviceID, hwDevID string, peer PeerProof, records ...*store.Device) error {
	for _, d := range records {
		if d == nil || d.State != store.StateEnrolled || strings.EqualFold(d.User, user) {
			continue
		}
		if peer.Verified && certauth.Bind(d, peer.Thumbprint) != certauth.None {
			continue
		}
		return &OwnershipError{User: user, DeviceID: deviceID, HWDevID: hwDevID, Owner: d.User, OwnerDeviceID: d.DeviceID}
	}
	return nil
}

// peerProof verifies the TLS client certificate, if any, against the
// device CA (certauth: chain, validity, clientAuth).
func (s *Service) peerProof(peer []*x509.Certificate) PeerProof {
	if len(peer) == 0 {
		return PeerProof{}
	}
	return PeerProof{Thumbprint: issuer.Thumbprint(peer[0]), Verified: s.Certs.Verify(peer) == nil}
}

// checkOwnership loads the records an enrollment of deviceID would replace
// or retire and applies MayReEnroll. The caller holds deviceID's lock.
func (s *Service) checkOwnership(ctx context.Context, user, deviceID, hwDevID string, peer []*x509.Certificate) error {
	st := s.Store
	var records []*store.Device
	d, err := st.Device(ctx, deviceID)
	switch {
	case err == nil:
		records = append(records, d)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if hwDevID != "" && store.ValidDeviceID(hwDevID) {
		otherID, err := st.DeviceByHardware(ctx, hwDevID)
		switch {
		case err == nil && otherID != deviceID:
			other, err := st.Device(ctx, otherID)
			switch {
			case err == nil:
				records = append(records, other)
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	return MayReEnroll(user, deviceID, hwDevID, s.peerProof(peer), records...)
}
