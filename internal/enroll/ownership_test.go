package enroll

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/lifecycle"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// The captures' hardware ID (A and B are clones of one VM) and another one.
const (
	captureHWDevID = "3B3ED6D0EA88CBFCF37D36F90F22FE61172348C0162FC3840D6703149870CE76"
	otherHWDevID   = "B0000000000000000000000000000000000000000000000000000000000000B0"
	deviceBID      = "B5B954E81FBCB94EB79BD08BE625F4EE"
)

// asUser rewrites the UsernameToken's user (the captures' password, demo,
// is every test user's).
func asUser(t testing.TB, req []byte, user string) []byte {
	t.Helper()
	out := regexp.MustCompile(`<wsse:Username>[^<]*</wsse:Username>`).ReplaceAll(req, []byte("<wsse:Username>"+user+"</wsse:Username>"))
	if bytes.Equal(out, req) && !bytes.Contains(req, []byte("<wsse:Username>"+user+"<")) {
		t.Fatal("no user name replaced")
	}
	return out
}

func withHWDevID(t testing.TB, req []byte, hw string) []byte {
	t.Helper()
	out := bytes.Replace(req, []byte(captureHWDevID), []byte(hw), 1)
	if bytes.Equal(out, req) {
		t.Fatal("no HWDevID replaced")
	}
	return out
}

func TestMayReEnroll(t *testing.T) {
	prev := store.Certificate{Thumbprint: "PREV"}
	live := &store.Device{DeviceID: "D1", User: "alice@contoso.com", State: store.StateEnrolled,
		Certificate: store.Certificate{Thumbprint: "CUR"}, PreviousCertificate: &prev}
	with := func(state store.DeviceState) *store.Device { d := *live; d.State = state; return &d }
	hw := &store.Device{DeviceID: "D2", User: "carol@contoso.com", State: store.StateEnrolled, Certificate: store.Certificate{Thumbprint: "HW"}}
	for _, tc := range []struct {
		name    string
		user    string
		peer    PeerProof
		records []*store.Device
		owner   string // "" when allowed
	}{
		{"new device", "bob@contoso.com", PeerProof{}, nil, ""},
		{"nil records", "bob@contoso.com", PeerProof{}, []*store.Device{nil, nil}, ""},
		{"owner", "alice@contoso.com", PeerProof{}, []*store.Device{live}, ""},
		{"owner in another case", "Alice@Contoso.COM", PeerProof{}, []*store.Device{live}, ""},
		{"another user", "bob@contoso.com", PeerProof{}, []*store.Device{live}, "alice@contoso.com"},
		{"another user, retired", "bob@contoso.com", PeerProof{}, []*store.Device{with(store.StateRetired)}, ""},
		{"another user, unenrolled", "bob@contoso.com", PeerProof{}, []*store.Device{with(store.StateUnenrolled)}, ""},
		{"device's current certificate", "bob@contoso.com", PeerProof{Thumbprint: "CUR", Verified: true}, []*store.Device{live}, ""},
		{"device's previous certificate", "bob@contoso.com", PeerProof{Thumbprint: "PREV", Verified: true}, []*store.Device{live}, ""},
		{"device's certificate, not verified", "bob@contoso.com", PeerProof{Thumbprint: "CUR"}, []*store.Device{live}, "alice@contoso.com"},
		{"another certificate", "bob@contoso.com", PeerProof{Thumbprint: "OTHER", Verified: true}, []*store.Device{live}, "alice@contoso.com"},
		{"same hardware, another user", "alice@contoso.com", PeerProof{}, []*store.Device{live, hw}, "carol@contoso.com"},
		{"same hardware, its certificate", "alice@contoso.com", PeerProof{Thumbprint: "HW", Verified: true}, []*store.Device{live, hw}, ""},
		{"certificate of one device does not free the other", "bob@contoso.com", PeerProof{Thumbprint: "CUR", Verified: true}, []*store.Device{live, hw}, "carol@contoso.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := MayReEnroll(tc.user, "NEWID", "HWID", tc.peer, tc.records...)
			if tc.owner == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var oe *OwnershipError
			if !errors.As(err, &oe) || oe.Owner != tc.owner || oe.User != tc.user || oe.DeviceID != "NEWID" || oe.HWDevID != "HWID" {
				t.Fatalf("got %v (%+v), want an OwnershipError naming owner %s", err, oe, tc.owner)
			}
		})
	}
}

// storageSnapshot is every key and value of the service's storage.
func storageSnapshot(t *testing.T, s *testService) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := s.storage.List(ctx, "mdm", true)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		if info, err := s.storage.Stat(ctx, k); err != nil || !info.IsTerminal {
			continue
		}
		v, err := s.storage.Load(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = string(v)
	}
	return out
}

func sameSnapshot(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestOwnership: another user cannot take over a live device, by its
// DeviceID or by its hardware; a refusal writes nothing. The owner, the
// device's own certificate and an admin's retirement free it.
func TestOwnership(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, "ecdsa")
	// demo@mdmwindows.com enrolls device A.
	a := enrollWithKey(t, s, "a-enroll-request.xml")
	enroll := func(file, user, hw string, peer ...*x509.Certificate) (*Issued, error) {
		t.Helper()
		req := asUser(t, replaceCSR(t, capture.Read(t, file), testpki.NewCSR(t, testpki.NewKey(t, "ecdsa"), "x")), user)
		if hw != "" {
			req = withHWDevID(t, req, hw)
		}
		env := parseEnvelope(t, req)
		_, issued, err := s.RequestToken(ctx, env, CredentialsFrom(env, peer), testEndpoints)
		return issued, err
	}
	refused := func(name string, issued *Issued, err error) {
		t.Helper()
		var f *soap.Fault
		var oe *OwnershipError
		if !errors.As(err, &f) || f.Code != soap.Authorization || !errors.As(err, &oe) || issued != nil {
			t.Fatalf("%s: got %v, want an Authorization fault", name, err)
		}
		if oe.User != "demio" || oe.Owner != "demo@mdmwindows.com" || oe.OwnerDeviceID != deviceAID || oe.HWDevID != captureHWDevID {
			t.Errorf("%s: %+v", name, oe)
		}
	}

	before := storageSnapshot(t, s)
	// demio, with A's DeviceID.
	issued, err := enroll("a-enroll-request.xml", "demio", "")
	refused("same DeviceID", issued, err)
	// demio, with another DeviceID but A's hardware.
	issued, err = enroll("b-enroll-request.xml", "demio", "")
	refused("same HWDevID", issued, err)
	// A certificate of the device CA that is not A's does not help.
	other := enrollWithKey(t, newTestService(t, "ecdsa"), "b-enroll-request.xml")
	issued, err = enroll("a-enroll-request.xml", "demio", "", other.cert)
	refused("foreign certificate", issued, err)
	if after := storageSnapshot(t, s); !sameSnapshot(before, after) {
		t.Fatalf("a refused enrollment wrote to storage:\nbefore %v\nafter  %v", before, after)
	}
	if rec, _ := s.Store.Device(ctx, deviceAID); rec.User != "demo@mdmwindows.com" || rec.Certificate.Thumbprint != issuer.Thumbprint(a.cert) || rec.State != store.StateEnrolled {
		t.Fatalf("record after refusals: %+v", rec.Redacted())
	}

	// The owner re-enrolls, whatever the case of the name it types.
	if _, err := enroll("a-enroll-request.xml", "DEMO@mdmwindows.com", ""); err != nil {
		t.Fatalf("owner re-enrolling: %v", err)
	}
	// The device itself, presenting its current certificate, may re-enroll
	// under another user.
	rec, _ := s.Store.Device(ctx, deviceAID)
	cur := enrollWithKey(t, s, "a-enroll-request.xml") // the owner again, to hold the key
	if _, err := enroll("a-enroll-request.xml", "demio", "", cur.cert); err != nil {
		t.Fatalf("re-enrolling with the device's certificate: %v", err)
	}
	if rec2, _ := s.Store.Device(ctx, deviceAID); rec2.User != "demio" || rec2.Certificate.Thumbprint == rec.Certificate.Thumbprint {
		t.Errorf("record after re-enrolling with the certificate: %+v", rec2.Redacted())
	}

	// Now demio owns A: demo may not take it back, until an admin retires it.
	if _, err := enroll("a-enroll-request.xml", "demo@mdmwindows.com", ""); !errors.As(err, new(*OwnershipError)) {
		t.Fatalf("back to the first user: %v", err)
	}
	unlock := s.Store.LockDevice(deviceAID)
	_, err = (&lifecycle.Service{Store: s.Store, Now: time.Now}).Retire(ctx, deviceAID, lifecycle.Retired("given away"))
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	if issued, err := enroll("b-enroll-request.xml", "demo@mdmwindows.com", ""); err != nil || issued.Device.DeviceID != deviceBID {
		t.Fatalf("after retirement, by hardware: %v", err)
	}
	// B is live as demo's now, on the same hardware as retired A: A's
	// DeviceID is free for anyone, B's hardware is not.
	if _, err := enroll("a-enroll-request.xml", "demio", otherHWDevID); err != nil {
		t.Fatalf("retired DeviceID on other hardware: %v", err)
	}
	if _, err := enroll("a-enroll-request.xml", "demo@mdmwindows.com", otherHWDevID); !errors.As(err, new(*OwnershipError)) {
		t.Fatalf("demo took demio's device: %v", err)
	}
}
