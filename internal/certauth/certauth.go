// Package certauth decides whether a TLS client certificate belongs to a
// live device of this server: the one rule behind OMA-DM certificate
// authentication, ROBO renewal, the renewing device's policy request, the
// re-enrollment ownership proof and the company hub gate.
//
// A device certificate is bound to its enrollment: it must chain to the
// device CA for client authentication, be inside its validity at the
// authority's clock, and be the device's current certificate or, during a
// renewal overlap, the one its last renewal replaced. The device must be
// enrolled (not retired or unenrolled). Every refusal is an *Error naming
// the rule that failed; errors.Is matches it against the Err* reasons.
package certauth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Reasons a certificate is refused. An *Error matches exactly one of them
// with errors.Is.
var (
	// ErrNoCertificate: the connection presented no client certificate.
	ErrNoCertificate = errors.New("no client certificate")
	// ErrExpired: the certificate's validity ended before now.
	ErrExpired = errors.New("certificate expired")
	// ErrNotYetValid: the certificate's validity starts after now.
	ErrNotYetValid = errors.New("certificate not yet valid")
	// ErrUntrusted: the certificate does not chain to the device CA for
	// client authentication.
	ErrUntrusted = errors.New("certificate not issued by the device CA")
	// ErrUnknown: no device of the store holds the certificate.
	ErrUnknown = errors.New("certificate belongs to no device")
	// ErrNotLive: the device holding it is retired or unenrolled.
	ErrNotLive = errors.New("device is not enrolled")
	// ErrNotBound: the certificate is neither the device's current
	// certificate nor the one its last renewal replaced.
	ErrNotBound = errors.New("certificate is not the device's")
)

// Error is a refused certificate: the reason (one of the Err* values), what
// is known of the certificate and the device, and the underlying cause.
// It holds no secret and is meant for logs.
type Error struct {
	// Reason is one of the Err* values.
	Reason error
	// Thumbprint and Subject identify the certificate ("" without one).
	Thumbprint, Subject string
	// DeviceID is the device looked at, when one was; State its state.
	DeviceID string
	State    store.DeviceState
	// Err is the underlying cause (an x509 or store error), if any.
	Err error
}

func (e *Error) Error() string {
	if e.Reason == ErrNoCertificate {
		return e.Reason.Error()
	}
	cert := fmt.Sprintf("certificate %s (%s)", e.Thumbprint, e.Subject)
	var msg string
	switch e.Reason {
	case ErrExpired:
		msg = cert + " expired"
	case ErrNotYetValid:
		msg = cert + " is not yet valid"
	case ErrUntrusted:
		msg = cert + " is not from the device CA"
	case ErrUnknown:
		msg = cert + " belongs to no device"
		if e.DeviceID != "" {
			msg = cert + " names device " + e.DeviceID + ", which has no record"
		}
	case ErrNotLive:
		msg = fmt.Sprintf("%s: device %s is %s", cert, e.DeviceID, e.State)
	case ErrNotBound:
		msg = fmt.Sprintf("%s was not issued to device %s: it is neither its current certificate nor the one its last renewal replaced", cert, e.DeviceID)
	default:
		msg = cert + ": " + fmt.Sprint(e.Reason)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is the reason of the refusal.
func (e *Error) Is(target error) bool { return target == e.Reason }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Binding is which of a device's certificates a certificate is.
type Binding int

// Bindings.
const (
	// None: not a certificate of the device.
	None Binding = iota
	// Current: the device's current certificate.
	Current
	// Previous: the certificate the device's last renewal replaced, still
	// accepted until the device uses its new one.
	Previous
)

func (b Binding) String() string {
	switch b {
	case Current:
		return "current"
	case Previous:
		return "previous"
	default:
		return "none"
	}
}

// Bind says which of dev's certificates the certificate of thumbprint (as
// issuer.Thumbprint writes it; case is ignored) is.
func Bind(dev *store.Device, thumbprint string) Binding {
	switch {
	case dev == nil || thumbprint == "":
		return None
	case strings.EqualFold(dev.Certificate.Thumbprint, thumbprint):
		return Current
	case dev.PreviousCertificate != nil && strings.EqualFold(dev.PreviousCertificate.Thumbprint, thumbprint):
		return Previous
	default:
		return None
	}
}

// Authority checks device certificates against the device CA and the
// store. Its fields are read, never changed, so one Authority serves
// concurrent requests.
type Authority struct {
	// Roots are the device CA roots; required.
	Roots *x509.CertPool
	// Intermediates are the certificates between the device CA signer and
	// its root (the chain a client presents is added to them).
	Intermediates []*x509.Certificate
	// Store finds a certificate's device; needed by Lookup and LiveDevice.
	Store *store.Store
	// Now is the clock validity is checked at; time.Now when nil.
	Now func() time.Time

	verified verifiedChains
}

// ForCA returns the authority of a device CA's certificates.
func ForCA(ca *issuer.CA, st *store.Store, now func() time.Time) *Authority {
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	return &Authority{Roots: roots, Intermediates: ca.Intermediates, Store: st, Now: now}
}

func (a *Authority) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func certError(reason error, leaf *x509.Certificate, cause error) *Error {
	return &Error{Reason: reason, Thumbprint: issuer.Thumbprint(leaf), Subject: leaf.Subject.String(), Err: cause}
}

// Verify checks the leaf of chain (the TLS peer chain, leaf first; the
// rest may serve as intermediates): inside its validity now (ErrExpired,
// ErrNotYetValid), then issued by the device CA for client authentication
// (ErrUntrusted). An empty chain is ErrNoCertificate.
func (a *Authority) Verify(chain []*x509.Certificate) error {
	if len(chain) == 0 || chain[0] == nil {
		return &Error{Reason: ErrNoCertificate}
	}
	leaf := chain[0]
	now := a.now()
	if now.After(leaf.NotAfter) {
		return certError(ErrExpired, leaf, fmt.Errorf("valid until %s", leaf.NotAfter.UTC().Format(time.RFC3339)))
	}
	if now.Before(leaf.NotBefore) {
		return certError(ErrNotYetValid, leaf, fmt.Errorf("valid from %s", leaf.NotBefore.UTC().Format(time.RFC3339)))
	}
	if a.Roots == nil {
		return certError(ErrUntrusted, leaf, errors.New("no device CA configured"))
	}
	key := chainKey(chain)
	if a.verified.ok(key, now) {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range a.Intermediates {
		inter.AddCert(c)
	}
	for _, c := range chain[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         a.Roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return certError(ErrUntrusted, leaf, err)
	}
	a.verified.remember(key, chains[0])
	return nil
}

// Check decides whether leaf, already verified, is a live certificate of
// dev: leaf is its current or previous certificate (ErrNotBound), and dev
// is enrolled (ErrNotLive). The binding is checked first, so a certificate
// that merely names a device learns nothing of its state.
func Check(dev *store.Device, leaf *x509.Certificate) (Binding, error) {
	thumb := issuer.Thumbprint(leaf)
	b := Bind(dev, thumb)
	if b == None {
		return None, &Error{Reason: ErrNotBound, Thumbprint: thumb, Subject: leaf.Subject.String(), DeviceID: dev.DeviceID}
	}
	if dev.State != store.StateEnrolled {
		return None, &Error{Reason: ErrNotLive, Thumbprint: thumb, Subject: leaf.Subject.String(), DeviceID: dev.DeviceID, State: dev.State}
	}
	return b, nil
}

// Authenticate decides whether chain's leaf is a live certificate of dev,
// a device the request already named: Verify, then Check.
func (a *Authority) Authenticate(dev *store.Device, chain []*x509.Certificate) (Binding, error) {
	if err := a.Verify(chain); err != nil {
		return None, err
	}
	return Check(dev, chain[0])
}

// Lookup verifies chain and returns the ID of the device its leaf names:
// the store's certificate index entry when there is one, else the leaf's
// common name, which is the device ID for every device whose ID can be one
// (enrollment indexes only the others, saving a durable write each). The
// record itself is not read: a caller that must lock the device first
// reads it, then calls Check, which refuses a certificate that is not the
// record's; the name only says which record to read.
func (a *Authority) Lookup(ctx context.Context, chain []*x509.Certificate) (string, error) {
	if err := a.Verify(chain); err != nil {
		return "", err
	}
	leaf := chain[0]
	id, err := a.Store.DeviceByCertificate(ctx, issuer.Thumbprint(leaf))
	if errors.Is(err, store.ErrNotFound) && store.ValidDeviceID(leaf.Subject.CommonName) {
		return leaf.Subject.CommonName, nil
	}
	if err != nil {
		return "", certError(ErrUnknown, leaf, err)
	}
	return id, nil
}

// NoRecord is the refusal of leaf when the record of the device Lookup
// named cannot be read (err): ErrUnknown, with what identifies both.
func NoRecord(leaf *x509.Certificate, deviceID string, err error) error {
	e := certError(ErrUnknown, leaf, err)
	e.DeviceID = deviceID
	return e
}

// LiveDevice returns the live device chain's leaf belongs to and which of
// its certificates the leaf is: Lookup, the device's record, then Check.
func (a *Authority) LiveDevice(ctx context.Context, chain []*x509.Certificate) (*store.Device, Binding, error) {
	id, err := a.Lookup(ctx, chain)
	if err != nil {
		return nil, None, err
	}
	dev, err := a.Store.Device(ctx, id)
	if err != nil {
		return nil, None, NoRecord(chain[0], id, err)
	}
	b, err := Check(dev, chain[0])
	if err != nil {
		return nil, None, err
	}
	return dev, b, nil
}
