package omadm

import (
	"context"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/events"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// observer records events, for tests.
type observer struct {
	mu          sync.Mutex
	management  []events.Management
	authFailure []events.AuthFailure
	commands    events.CommandChange
}

func (o *observer) Enrollment(events.Enrollment) {}
func (o *observer) Management(e events.Management) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.management = append(o.management, e)
}
func (o *observer) AuthFailure(e events.AuthFailure) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.authFailure = append(o.authFailure, e)
}
func (o *observer) Commands(c events.CommandChange) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.commands.Queued += c.Queued
	o.commands.Sent += c.Sent
	o.commands.Acknowledged += c.Acknowledged
	o.commands.Canceled += c.Canceled
}
func (o *observer) ProfileState(events.ProfileChange) {}

func (o *observer) last() events.Management { return o.management[len(o.management)-1] }

// TestEventsOfSessions: what the server reports for an authenticated
// session, the digest challenge that opens a session (not a failure), a
// wrong digest, another device's certificate and an unknown device.
func TestEventsOfSessions(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	o := &observer{}
	h.srv.Events = o
	a := h.enroll(deviceA)
	h.enroll(deviceB)

	h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	if e := o.last(); e.Result != events.MgmtAuthenticated || e.Auth != "certificate" || !e.NewSession || len(o.authFailure) != 0 {
		t.Errorf("certificate session: %+v, failures %v", e, o.authFailure)
	}

	h.sendWith(nil, msg(deviceA, "2", 1, "", session1Alert, true))
	if e := o.last(); e.Result != events.MgmtChallenged || e.Auth != "" || len(o.authFailure) != 0 {
		t.Errorf("first digest message: %+v, failures %v", e, o.authFailure)
	}

	h.sendWith(nil, msg(deviceA, "3", 1, credHdr("AAAAAAAAAAAAAAAAAAAAAA=="), session1Alert, true))
	if e := o.last(); e.Result != events.MgmtChallenged || len(o.authFailure) != 1 ||
		o.authFailure[0] != (events.AuthFailure{Service: events.ServiceManagement, Reason: events.ReasonInvalidCredentials}) {
		t.Errorf("wrong digest: %+v, failures %v", e, o.authFailure)
	}

	h.sendWith(nil, msg(deviceA, "4", 1, credHdr(digestFor(t, a, a.Digest.ServerNonce)), session1Alert, true))
	if e := o.last(); e.Result != events.MgmtAuthenticated || e.Auth != "digest" || len(o.authFailure) != 1 {
		t.Errorf("right digest: %+v", e)
	}

	h.sendWith(h.sendCert(deviceB), msg(deviceA, "5", 1, "", session1Alert, true))
	if e := o.last(); e.Result != events.MgmtRefused || o.authFailure[len(o.authFailure)-1].Reason != events.ReasonCertificate {
		t.Errorf("another device's certificate: %+v, failures %v", e, o.authFailure)
	}

	h.sendWith(nil, msg("0123456789ABCDEF0123456789ABCDEF", "1", 1, "", session1Alert, true))
	if e := o.last(); e.Result != events.MgmtRefused || o.authFailure[len(o.authFailure)-1].Reason != events.ReasonDeviceState {
		t.Errorf("unknown device: %+v, failures %v", e, o.authFailure)
	}

	if _, err := h.srv.Handle(context.Background(), Request{Body: []byte("not xml"), ServerURL: serverURL}); err == nil {
		t.Fatal("garbage accepted")
	}
	if e := o.last(); e.Result != events.MgmtRefused {
		t.Errorf("garbage: %+v", e)
	}
	for _, e := range o.management {
		if e.Duration <= 0 {
			t.Errorf("no duration: %+v", e)
		}
	}
}

// TestEventsOfCommands follows commands through their states: queued,
// sent, acknowledged; canceled by an admin; canceled by retirement.
func TestEventsOfCommands(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	o := &observer{}
	h.srv.Events = o
	h.enroll(deviceA)
	get := store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}}
	h.enqueue(deviceA, get)
	second := h.enqueue(deviceA, get)
	if o.commands != (events.CommandChange{Queued: 2}) {
		t.Fatalf("after queuing: %+v", o.commands)
	}
	if _, err := h.srv.Cancel(context.Background(), deviceA, second.ID, "changed my mind"); err != nil {
		t.Fatal(err)
	}
	_, reply := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	sent := sentCommands(reply)
	if len(sent) != 1 || o.commands != (events.CommandChange{Queued: 2, Sent: 1, Canceled: 1}) {
		t.Fatalf("after the first message: %d sent, %+v", len(sent), o.commands)
	}
	h.send(deviceA, msg(deviceA, "1", 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", sent[0].CmdID, "Get", 200), true))
	if o.commands != (events.CommandChange{Queued: 2, Sent: 1, Acknowledged: 1, Canceled: 1}) {
		t.Fatalf("after the status: %+v", o.commands)
	}
	h.enqueue(deviceA, get)
	if _, err := h.srv.Retire(context.Background(), deviceA, "stolen"); err != nil {
		t.Fatal(err)
	}
	if o.commands != (events.CommandChange{Queued: 3, Sent: 1, Acknowledged: 1, Canceled: 2}) {
		t.Fatalf("after retirement: %+v", o.commands)
	}
}

// sendCert is the certificate of a device, as a peer chain.
func (h *harness) sendCert(id string) []*x509.Certificate { return []*x509.Certificate{h.certs[id]} }
