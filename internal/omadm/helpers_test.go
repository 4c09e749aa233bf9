package omadm

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

const (
	deviceA   = "1E08C6E95D8BB843B1278FF45BC60CC6"
	deviceB   = "B5B954E81FBCB94EB79BD08BE625F4EE"
	serverURL = "https://enterpriseenrollment.contoso.com/ManagementServer/MDM.svc"
)

type harness struct {
	t     testing.TB
	srv   *Server
	ca    *issuer.CA
	certs map[string]*x509.Certificate
}

func newHarness(t testing.TB, mode AuthMode, storage certmagic.Storage) *harness {
	t.Helper()
	if storage == nil {
		storage = &certmagic.FileStorage{Path: t.TempDir()}
	}
	ca := testpki.NewCA(t, "ecdsa")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	srv := &Server{Store: store.New(storage), ProviderID: "caddy-mdm", Auth: mode, Roots: roots}
	if err := srv.Validate(); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, srv: srv, ca: ca, certs: map[string]*x509.Certificate{}}
}

// enroll stores an enrolled device with a certificate issued by the CA and
// digest secrets, as the enrollment service would.
func (h *harness) enroll(id string) *store.Device {
	h.t.Helper()
	key := testpki.NewKey(h.t, "ecdsa")
	csr, err := pkcs10.Parse(testpki.NewCSR(h.t, key, "x"))
	if err != nil {
		h.t.Fatal(err)
	}
	subj, _ := issuer.NewSubject(id)
	cert, err := (&issuer.Issuer{CA: h.ca, Validity: 24 * time.Hour}).Issue(csr, subj, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	h.certs[id] = cert
	d := &store.Device{
		DeviceID: id, State: store.StateEnrolled, EnrollmentType: "Full", EnrolledAt: time.Now(),
		Certificate: store.Certificate{Serial: issuer.SerialHex(cert), Thumbprint: issuer.Thumbprint(cert)},
		Digest: store.DigestSecrets{
			ClientSecret: "client-secret-" + id, ClientNonce: base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")),
			ServerName: id, ServerSecret: "server-secret-" + id, ServerNonce: base64.StdEncoding.EncodeToString([]byte("fedcba9876543210")),
		},
	}
	if err := h.srv.Store.PutDevice(context.Background(), d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

// send delivers a message with the device's certificate (certificate auth).
func (h *harness) send(id string, body []byte) (*Reply, *syncml.Message) {
	h.t.Helper()
	var peer []*x509.Certificate
	if c := h.certs[id]; c != nil {
		peer = []*x509.Certificate{c}
	}
	return h.sendWith(peer, body)
}

func (h *harness) sendWith(peer []*x509.Certificate, body []byte) (*Reply, *syncml.Message) {
	h.t.Helper()
	return h.sendRequest(Request{Body: body, PeerCertificates: peer, ServerURL: serverURL})
}

// sendToken delivers a message without certificate to the RespURI of a
// digest session, carrying token.
func (h *harness) sendToken(token string, body []byte) (*Reply, *syncml.Message) {
	h.t.Helper()
	return h.sendRequest(Request{Body: body, ServerURL: serverURL, SessionToken: token})
}

func (h *harness) sendRequest(req Request) (*Reply, *syncml.Message) {
	h.t.Helper()
	r, err := h.srv.Handle(context.Background(), req)
	if err != nil {
		h.t.Fatalf("Handle: %v", err)
	}
	m, err := syncml.Parse(r.Body)
	if err != nil {
		h.t.Fatalf("reply does not parse: %v\n%s", err, r.Body)
	}
	return r, m
}

func (h *harness) enqueue(id string, spec store.CommandSpec) *store.Command {
	h.t.Helper()
	c, err := h.srv.Enqueue(context.Background(), id, spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) commands(id string) map[string]*store.Command {
	h.t.Helper()
	cs, err := h.srv.Commands(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]*store.Command{}
	for _, c := range cs {
		out[c.ID] = c
	}
	return out
}

// msg builds a device message: header fields plus body XML.
func msg(device, session string, msgID int, extraHdr, body string, final bool) []byte {
	f := ""
	if final {
		f = "<Final/>"
	}
	return []byte(fmt.Sprintf(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>`+
		`<SessionID>%s</SessionID><MsgID>%d</MsgID><Target><LocURI>%s</LocURI></Target><Source><LocURI>%s</LocURI></Source>%s</SyncHdr>`+
		`<SyncBody>%s%s</SyncBody></SyncML>`, session, msgID, serverURL, device, extraHdr, body, f))
}

const session1Alert = `<Alert><CmdID>2</CmdID><Data>1201</Data></Alert>`

func status(cmdID int, msgRef, cmdRef, cmd string, code int) string {
	return fmt.Sprintf(`<Status><CmdID>%d</CmdID><MsgRef>%s</MsgRef><CmdRef>%s</CmdRef><Cmd>%s</Cmd><Data>%d</Data></Status>`, cmdID, msgRef, cmdRef, cmd, code)
}

// headerStatus returns the reply's status for the SyncHdr, checking it is first.
func headerStatus(t testing.TB, m *syncml.Message) *syncml.Command {
	t.Helper()
	if len(m.Commands) == 0 || m.Commands[0].Name != syncml.CmdStatus || m.Commands[0].Cmd != syncml.CmdSyncHdr || m.Commands[0].CmdRef != "0" {
		t.Fatalf("first command is not the SyncHdr status: %+v", m.Commands)
	}
	return m.Commands[0]
}

// sentCommands returns the non-Status commands of a reply.
func sentCommands(m *syncml.Message) []*syncml.Command {
	var out []*syncml.Command
	for _, c := range m.Commands {
		if c.Name != syncml.CmdStatus {
			out = append(out, c)
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

var _ = strings.Contains
