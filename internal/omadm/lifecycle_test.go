package omadm

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// TestRenewalOverlap: after a renewal both certificates authenticate until
// the device uses the new one; then the old one is refused.
func TestRenewalOverlap(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	dev := h.enroll(deviceA)
	oldCert := h.certs[deviceA]
	csr, _ := pkcs10.Parse(testpki.NewCSR(t, testpki.NewKey(t, "ecdsa"), "x"))
	subj, _ := issuer.NewSubject(deviceA)
	newCert, err := (&issuer.Issuer{CA: h.ca, Validity: 48 * time.Hour}).Issue(csr, subj, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	prev := dev.Certificate
	dev.PreviousCertificate = &prev
	dev.Certificate = store.Certificate{Thumbprint: issuer.Thumbprint(newCert), Serial: issuer.SerialHex(newCert)}
	if err := h.srv.Store.PutDevice(context.Background(), dev); err != nil {
		t.Fatal(err)
	}
	try := func(c *x509.Certificate, session string) string {
		_, m := h.sendWith([]*x509.Certificate{c}, msg(deviceA, session, 1, "", session1Alert, true))
		return headerStatus(t, m).Data
	}
	if got := try(oldCert, "1"); got != "200" {
		t.Errorf("old certificate during the overlap: %s", got)
	}
	if got := try(newCert, "2"); got != "200" {
		t.Errorf("new certificate: %s", got)
	}
	if got := try(oldCert, "3"); got != "403" {
		t.Errorf("old certificate after the switch: %s, want 403", got)
	}
	if got := try(newCert, "4"); got != "200" {
		t.Errorf("new certificate after the switch: %s", got)
	}
}

// TestAdminUnenroll: the Unenroll Exec goes out in the next session, and the
// device is retired as it is delivered; its certificate is refused after.
func TestAdminUnenroll(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	later := h.enqueue(deviceA, replace("./Device/A", "1"))
	un, err := h.srv.Unenroll(context.Background(), deviceA)
	if err != nil {
		t.Fatal(err)
	}
	h.enqueue(deviceA, replace("./Device/B", "2"))
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	sent := sentCommands(m)
	if len(sent) != 2 || sent[1].Name != "Exec" || sent[1].Items[0].Target != "./Vendor/MSFT/DMClient/Provider/caddy-mdm/Unenroll" || !m.Final {
		t.Fatalf("sent %+v", sent)
	}
	dev, _ := h.srv.Store.Device(context.Background(), deviceA)
	if dev.State != store.StateRetired || !strings.Contains(dev.StateReason, "Unenroll delivered") {
		t.Errorf("device %s %q", dev.State, dev.StateReason)
	}
	cmds := h.commands(deviceA)
	if cmds[un.ID].State != store.CommandAcknowledged {
		t.Errorf("unenroll command %s", cmds[un.ID].State)
	}
	if c := cmds[later.ID]; c.State != store.CommandCanceled || !strings.Contains(c.Reason, "before answering") {
		t.Errorf("command sent before Unenroll: %s %q", c.State, c.Reason)
	}
	canceled := 0
	for _, c := range cmds {
		if c.State == store.CommandCanceled {
			canceled++
		}
	}
	if canceled != 2 {
		t.Errorf("%d commands canceled, want 2 (one sent before, one queued after Unenroll)", canceled)
	}
	_, m = h.send(deviceA, msg(deviceA, "2", 1, "", session1Alert, true))
	if headerStatus(t, m).Data != "403" {
		t.Errorf("retired device's certificate: %s", headerStatus(t, m).Data)
	}
	if _, err := h.srv.Unenroll(context.Background(), deviceA); err == nil {
		t.Error("unenroll of a retired device queued")
	}
}

func TestRetire(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	c := h.enqueue(deviceA, replace("./Device/A", "1"))
	if _, err := h.srv.Retire(context.Background(), deviceA, "reported stolen"); err != nil {
		t.Fatal(err)
	}
	if got := h.commands(deviceA)[c.ID]; got.State != store.CommandCanceled {
		t.Errorf("queued command %s", got.State)
	}
	r, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	if headerStatus(t, m).Data != "403" || !strings.Contains(r.Report.Refused, "retired") {
		t.Errorf("retired device: %s %q", headerStatus(t, m).Data, r.Report.Refused)
	}
}
