package certauth

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// t0 is the tests' now: testpki CAs are valid from an hour before the real clock.
var t0 = time.Now().Truncate(time.Second)

// issue signs a device certificate with ca at now, valid for a day.
func issue(t *testing.T, ca *issuer.CA, cn string, now time.Time) *x509.Certificate {
	t.Helper()
	csr, err := pkcs10.Parse(testpki.NewCSR(t, testpki.NewKey(t, "ecdsa"), "x"))
	if err != nil {
		t.Fatal(err)
	}
	subj, err := issuer.NewSubject(cn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := (&issuer.Issuer{CA: ca, Validity: 24 * time.Hour}).Issue(csr, subj, now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// withIntermediate returns a CA whose signer is an intermediate under a
// fresh root, as a configured long-lived intermediate is.
func withIntermediate(t *testing.T) *issuer.CA {
	t.Helper()
	root := testpki.NewCA(t, "ecdsa")
	key := testpki.NewKey(t, "ecdsa")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test Device Intermediate"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Root, key.Public(), root.Key)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer.CA{Signer: inter, Key: key, Root: root.Root, Intermediates: []*x509.Certificate{inter}}
}

func clock(at time.Time) func() time.Time { return func() time.Time { return at } }

func TestVerify(t *testing.T) {
	ca := testpki.NewCA(t, "rsa")
	leaf := issue(t, ca, "DEV1", t0)
	foreignCA := testpki.NewCA(t, "ecdsa")
	foreign := issue(t, foreignCA, "DEV1", t0)

	// A certificate of the device CA without clientAuth (a server certificate).
	key := testpki.NewKey(t, "ecdsa")
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "server"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca.Signer, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	serverCert, _ := x509.ParseCertificate(der)

	inter := withIntermediate(t)
	viaInter := issue(t, inter, "DEV2", t0)
	// The root alone, without the intermediate configured.
	rootOnly := &Authority{Roots: ForCA(inter, nil, nil).Roots, Now: clock(t0)}

	for _, tc := range []struct {
		name  string
		a     *Authority
		chain []*x509.Certificate
		want  error
	}{
		{"issued, now", ForCA(ca, nil, clock(t0)), []*x509.Certificate{leaf}, nil},
		{"issued, just before expiry", ForCA(ca, nil, clock(leaf.NotAfter)), []*x509.Certificate{leaf}, nil},
		{"expired", ForCA(ca, nil, clock(leaf.NotAfter.Add(time.Second))), []*x509.Certificate{leaf}, ErrExpired},
		{"not yet valid", ForCA(ca, nil, clock(leaf.NotBefore.Add(-time.Second))), []*x509.Certificate{leaf}, ErrNotYetValid},
		{"another CA", ForCA(ca, nil, clock(t0)), []*x509.Certificate{foreign}, ErrUntrusted},
		{"another CA, its root presented", ForCA(ca, nil, clock(t0)), []*x509.Certificate{foreign, foreignCA.Root}, ErrUntrusted},
		{"no clientAuth", ForCA(ca, nil, clock(t0)), []*x509.Certificate{serverCert}, ErrUntrusted},
		{"no certificate", ForCA(ca, nil, clock(t0)), nil, ErrNoCertificate},
		{"no roots", &Authority{Now: clock(t0)}, []*x509.Certificate{leaf}, ErrUntrusted},
		{"through the configured intermediate", ForCA(inter, nil, clock(t0)), []*x509.Certificate{viaInter}, nil},
		{"intermediate missing", rootOnly, []*x509.Certificate{viaInter}, ErrUntrusted},
		{"intermediate presented by the client", rootOnly, []*x509.Certificate{viaInter, inter.Signer}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Verify(tc.chain)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if tc.chain != nil && e.Thumbprint != issuer.Thumbprint(tc.chain[0]) {
				t.Errorf("thumbprint %q, want the leaf's", e.Thumbprint)
			}
			for _, other := range []error{ErrNoCertificate, ErrExpired, ErrNotYetValid, ErrUntrusted, ErrUnknown, ErrNotLive, ErrNotBound} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
		})
	}
}

func TestBind(t *testing.T) {
	dev := &store.Device{
		Certificate:         store.Certificate{Thumbprint: "AA11"},
		PreviousCertificate: &store.Certificate{Thumbprint: "BB22"},
	}
	for tp, want := range map[string]Binding{"AA11": Current, "aa11": Current, "BB22": Previous, "CC33": None, "": None} {
		if got := Bind(dev, tp); got != want {
			t.Errorf("Bind(%q) = %v, want %v", tp, got, want)
		}
	}
	if got := Bind(&store.Device{Certificate: store.Certificate{Thumbprint: "AA11"}}, "BB22"); got != None {
		t.Errorf("no previous certificate: %v", got)
	}
	if got := Bind(nil, "AA11"); got != None {
		t.Errorf("no device: %v", got)
	}
}

// fixture is a store with devices and the certificates issued to them.
type fixture struct {
	a       *Authority
	ca      *issuer.CA
	store   *store.Store
	storage *certmagic.FileStorage
}

func newFixture(t *testing.T) *fixture {
	ca := testpki.NewCA(t, "ecdsa")
	fs := &certmagic.FileStorage{Path: t.TempDir()}
	st := store.New(fs)
	return &fixture{a: ForCA(ca, st, clock(t0)), ca: ca, store: st, storage: fs}
}

// enroll stores a device holding cur, and prev as its previous certificate
// when not nil, both indexed as a renewal leaves them.
func (f *fixture) enroll(t *testing.T, id string, state store.DeviceState, cur, prev *x509.Certificate) *store.Device {
	t.Helper()
	ctx := context.Background()
	d := &store.Device{DeviceID: id, State: state, Certificate: store.Certificate{Thumbprint: issuer.Thumbprint(cur)}}
	if prev != nil {
		d.PreviousCertificate = &store.Certificate{Thumbprint: issuer.Thumbprint(prev)}
		if err := f.store.IndexCertificate(ctx, issuer.Thumbprint(prev), id); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.store.IndexCertificate(ctx, issuer.Thumbprint(cur), id); err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	return d
}

const (
	idA = "1E08C6E95D8BB843B1278FF45BC60CC6"
	idB = "2F19D7FA6E9CC954C2389AA56CD71DD7"
	idC = "3A2AE8AB7FADDA65D349ABB67DE82EE8"
)

// TestLiveDevice: the current and the previous certificate of a live
// device find it; a certificate replaced twice, another device's, a
// retired or unenrolled device's, one A's name but not A's, and one of
// another CA do not, each for its reason.
func TestLiveDevice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	oldest := issue(t, f.ca, idA, t0.Add(-40*time.Minute))
	prev := issue(t, f.ca, idA, t0.Add(-20*time.Minute))
	cur := issue(t, f.ca, idA, t0)
	devA := f.enroll(t, idA, store.StateEnrolled, cur, prev)
	// oldest was A's before prev: still indexed, no longer held.
	if err := f.store.IndexCertificate(ctx, issuer.Thumbprint(oldest), idA); err != nil {
		t.Fatal(err)
	}
	certB := issue(t, f.ca, idB, t0)
	devB := f.enroll(t, idB, store.StateEnrolled, certB, nil)
	retired := issue(t, f.ca, idC, t0)
	f.enroll(t, idC, store.StateRetired, retired, nil)
	unindexed := issue(t, f.ca, idA, t0)
	foreign := issue(t, testpki.NewCA(t, "ecdsa"), idA, t0)

	for _, tc := range []struct {
		name   string
		leaf   *x509.Certificate
		dev    *store.Device
		bind   Binding
		reason error
	}{
		{"current", cur, devA, Current, nil},
		{"previous (renewal overlap)", prev, devA, Previous, nil},
		{"another device's current", certB, devB, Current, nil},
		{"replaced twice", oldest, nil, None, ErrNotBound},
		{"retired device", retired, nil, None, ErrNotLive},
		{"not indexed, named A by its common name, not A's", unindexed, nil, None, ErrNotBound},
		{"another CA", foreign, nil, None, ErrUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev, b, err := f.a.LiveDevice(ctx, []*x509.Certificate{tc.leaf})
			if tc.reason != nil {
				if !errors.Is(err, tc.reason) || dev != nil || b != None {
					t.Fatalf("%v %v %v, want %v", dev, b, err, tc.reason)
				}
				return
			}
			if err != nil || dev == nil || dev.DeviceID != tc.dev.DeviceID || b != tc.bind {
				t.Fatalf("%+v %v %v, want device %s %v", dev, b, err, tc.dev.DeviceID, tc.bind)
			}
		})
	}

	// The refusals say why, with the device when one was looked at.
	_, _, err := f.a.LiveDevice(ctx, []*x509.Certificate{retired})
	if want := "device " + idC + " is retired"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("retired: %v, want %q", err, want)
	}
	_, _, err = f.a.LiveDevice(ctx, []*x509.Certificate{oldest})
	if want := "was not issued to device " + idA; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("replaced: %v, want %q", err, want)
	}

	// An index entry whose record is gone is no device.
	gone := issue(t, f.ca, "GONE", t0)
	if err := f.store.IndexCertificate(ctx, issuer.Thumbprint(gone), "4B3BF9BC80BEEB76E45ABCC78EF93FF9"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.a.LiveDevice(ctx, []*x509.Certificate{gone}); !errors.Is(err, ErrUnknown) {
		t.Errorf("index without record: %v", err)
	}

	// The clock is the authority's: at expiry the current certificate no
	// longer finds its device.
	late := &Authority{Roots: f.a.Roots, Intermediates: f.a.Intermediates, Store: f.a.Store, Now: clock(cur.NotAfter.Add(time.Minute))}
	if _, _, err := late.LiveDevice(ctx, []*x509.Certificate{cur}); !errors.Is(err, ErrExpired) {
		t.Errorf("expired current certificate: %v", err)
	}
}

// TestAuthenticate: a device named by the request accepts its own current
// or previous certificate only, whatever the index says.
func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	prev := issue(t, f.ca, idA, t0.Add(-20*time.Minute))
	cur := issue(t, f.ca, idA, t0)
	other := issue(t, f.ca, idB, t0)
	devA := &store.Device{DeviceID: idA, State: store.StateEnrolled,
		Certificate: store.Certificate{Thumbprint: issuer.Thumbprint(cur)}, PreviousCertificate: &store.Certificate{Thumbprint: issuer.Thumbprint(prev)}}

	if b, err := f.a.Authenticate(devA, []*x509.Certificate{cur}); err != nil || b != Current {
		t.Errorf("current: %v %v", b, err)
	}
	if b, err := f.a.Authenticate(devA, []*x509.Certificate{prev}); err != nil || b != Previous {
		t.Errorf("previous: %v %v", b, err)
	}
	if _, err := f.a.Authenticate(devA, []*x509.Certificate{other}); !errors.Is(err, ErrNotBound) {
		t.Errorf("another device's certificate: %v", err)
	}
	if _, err := f.a.Authenticate(devA, nil); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("no certificate: %v", err)
	}
	for _, state := range []store.DeviceState{store.StateRetired, store.StateUnenrolled} {
		d := *devA
		d.State = state
		if _, err := f.a.Authenticate(&d, []*x509.Certificate{cur}); !errors.Is(err, ErrNotLive) {
			t.Errorf("%s device: %v", state, err)
		}
	}
}

// TestVerifyRemembersWithinTheWindow: a chain that verified is not checked
// again while every certificate of it is valid, and is checked again (and
// refused) outside that window, whatever was remembered.
func TestVerifyRemembersWithinTheWindow(t *testing.T) {
	f := newFixture(t)
	cur := issue(t, f.ca, "1E08C6E95D8BB843B1278FF45BC60CC6", t0)
	now := t0.Add(time.Hour)
	f.a.Now = func() time.Time { return now }
	if err := f.a.Verify([]*x509.Certificate{cur}); err != nil {
		t.Fatal(err)
	}
	if !f.a.verified.ok(chainKey([]*x509.Certificate{cur}), now) {
		t.Fatal("a verified chain was not remembered")
	}
	now = cur.NotAfter.Add(time.Second)
	if err := f.a.Verify([]*x509.Certificate{cur}); !errors.Is(err, ErrExpired) {
		t.Errorf("after the window: %v", err)
	}
	if f.a.verified.ok(chainKey([]*x509.Certificate{cur}), now) {
		t.Error("a remembered chain counts outside its window")
	}
}

// TestLookupByCommonName: a certificate without an index entry finds its
// device by its common name (enrollment indexes only devices whose ID is
// not the name), but only the record's own certificate is accepted; a name
// of no device is unknown; an index entry, where there is one, wins over
// the name (a device whose ID is another's hashed common name cannot take
// that device's certificates).
func TestLookupByCommonName(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cur := issue(t, f.ca, idA, t0)
	if err := f.store.PutDevice(ctx, &store.Device{DeviceID: idA, State: store.StateEnrolled,
		Certificate: store.Certificate{Thumbprint: issuer.Thumbprint(cur)}}); err != nil {
		t.Fatal(err)
	}
	if dev, b, err := f.a.LiveDevice(ctx, []*x509.Certificate{cur}); err != nil || dev.DeviceID != idA || b != Current {
		t.Fatalf("by common name: %v %v %v", dev, b, err)
	}
	if id, err := f.a.Lookup(ctx, []*x509.Certificate{cur}); err != nil || id != idA {
		t.Fatalf("Lookup: %q %v", id, err)
	}
	stranger := issue(t, f.ca, idB, t0)
	if _, _, err := f.a.LiveDevice(ctx, []*x509.Certificate{stranger}); !errors.Is(err, ErrUnknown) {
		t.Errorf("common name of no device: %v", err)
	}

	// Device C's ID is not a PrintableString, so its certificate carries a
	// hashed name, which happens to be device B's ID: the index says C.
	const idC = "device_with{braces}"
	hashed := issue(t, f.ca, idB, t0)
	for _, d := range []*store.Device{
		{DeviceID: idC, State: store.StateEnrolled, Certificate: store.Certificate{Thumbprint: issuer.Thumbprint(hashed)}},
		{DeviceID: idB, State: store.StateEnrolled, Certificate: store.Certificate{Thumbprint: issuer.Thumbprint(stranger)}},
	} {
		if err := f.store.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.store.IndexCertificate(ctx, issuer.Thumbprint(hashed), idC); err != nil {
		t.Fatal(err)
	}
	if dev, b, err := f.a.LiveDevice(ctx, []*x509.Certificate{hashed}); err != nil || dev.DeviceID != idC || b != Current {
		t.Fatalf("indexed hashed name: %v %v %v", dev, b, err)
	}
}

// TestLookupRefusals: the common name is read only when the index has no
// entry; an entry that cannot be read, or a name that is no device ID, is
// unknown. A certificate naming a retired device without being its own
// learns nothing of the state (ErrNotBound, not ErrNotLive).
func TestLookupRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cur := issue(t, f.ca, idA, t0)
	f.enroll(t, idA, store.StateEnrolled, cur, nil)

	broken := issue(t, f.ca, idA, t0)
	if err := f.storage.Store(ctx, "mdm/certificates/"+issuer.Thumbprint(broken)+".json", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Lookup(ctx, []*x509.Certificate{broken}); !errors.Is(err, ErrUnknown) {
		t.Errorf("unreadable index entry: %v, want ErrUnknown (not the name's device)", err)
	}
	odd := issue(t, f.ca, "not a device/id", t0)
	if id, err := f.a.Lookup(ctx, []*x509.Certificate{odd}); !errors.Is(err, ErrUnknown) {
		t.Errorf("name that is no device ID: %q %v, want ErrUnknown", id, err)
	}

	retired := issue(t, f.ca, idC, t0)
	f.enroll(t, idC, store.StateRetired, retired, nil)
	other := issue(t, f.ca, idC, t0) // names C, never C's
	if _, _, err := f.a.LiveDevice(ctx, []*x509.Certificate{other}); !errors.Is(err, ErrNotBound) {
		t.Errorf("certificate naming a retired device: %v, want ErrNotBound", err)
	}
	if _, _, err := f.a.LiveDevice(ctx, []*x509.Certificate{retired}); !errors.Is(err, ErrNotLive) {
		t.Errorf("retired device's own certificate: %v, want ErrNotLive", err)
	}
}

// TestLookupAfterUpgrade: a device whose previous certificate was indexed
// by an earlier version and whose current one (renewed since) was not is
// found by both during the renewal overlap.
func TestLookupAfterUpgrade(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	prev := issue(t, f.ca, idA, t0.Add(-time.Hour))
	cur := issue(t, f.ca, idA, t0)
	if err := f.store.IndexCertificate(ctx, issuer.Thumbprint(prev), idA); err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutDevice(ctx, &store.Device{DeviceID: idA, State: store.StateEnrolled,
		Certificate:         store.Certificate{Thumbprint: issuer.Thumbprint(cur)},
		PreviousCertificate: &store.Certificate{Thumbprint: issuer.Thumbprint(prev)}}); err != nil {
		t.Fatal(err)
	}
	for leaf, want := range map[*x509.Certificate]Binding{prev: Previous, cur: Current} {
		if dev, b, err := f.a.LiveDevice(ctx, []*x509.Certificate{leaf}); err != nil || dev.DeviceID != idA || b != want {
			t.Errorf("%v: %v %v %v", want, dev, b, err)
		}
	}
}
