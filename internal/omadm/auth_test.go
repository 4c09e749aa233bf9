package omadm

import (
	"context"
	"crypto/md5"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// TestDigestFormula checks Digest against P13 computed step by step.
func TestDigestFormula(t *testing.T) {
	nonce := []byte("0123456789abcdef")
	inner := md5.Sum([]byte("caddy-mdm:s3cret"))
	outer := md5.Sum(append([]byte(base64.StdEncoding.EncodeToString(inner[:])+":"), nonce...))
	if got, want := Digest("caddy-mdm", "s3cret", nonce), base64.StdEncoding.EncodeToString(outer[:]); got != want {
		t.Fatalf("Digest = %s, want %s", got, want)
	}
}

func credHdr(digest string) string {
	return `<Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data>` + digest + `</Data></Cred>`
}

func digestFor(t *testing.T, d *store.Device, nonceB64 string) string {
	t.Helper()
	n, err := base64.StdEncoding.DecodeString(nonceB64)
	if err != nil || len(n) != 16 {
		t.Fatalf("nonce %q is not 16 bytes base64 (P14)", nonceB64)
	}
	return Digest(d.Digest.ServerName, d.Digest.ServerSecret, n)
}

func TestDigestSession(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	dev := h.enroll(deviceA)
	ctx := context.Background()
	enrolledNonce := dev.Digest.ServerNonce

	// No credentials, no certificate: 407 with the current nonce; nothing
	// applied, nothing written (a stranger may not rotate the nonce).
	r, m := h.sendWith(nil, msg(deviceA, "1", 1, "", session1Alert+`<Replace><CmdID>3</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>X</Data></Item></Replace>`, true))
	hs := headerStatus(t, m)
	if hs.Data != "407" || hs.Chal == nil || hs.Chal.Type != syncml.AuthMD5 || hs.Chal.Format != "b64" || r.Report.Auth != "" {
		t.Fatalf("no credentials: %+v %+v", hs, hs.Chal)
	}
	if inv, _ := h.srv.Store.Inventory(ctx, deviceA); len(inv.Nodes) != 0 {
		t.Error("an unauthenticated message was applied")
	}
	if hs.Chal.NextNonce != enrolledNonce {
		t.Fatalf("challenge nonce %q, want the stored one %q", hs.Chal.NextNonce, enrolledNonce)
	}
	if stored, _ := h.srv.Store.Device(ctx, deviceA); stored.Digest.ServerNonce != enrolledNonce {
		t.Fatal("a refused message rotated the stored nonce")
	}

	// Wrong credentials: 401, the nonce still unchanged.
	_, m = h.sendWith(nil, msg(deviceA, "1", 2, credHdr("d3JvbmcgZGlnZXN0"), session1Alert, true))
	hs = headerStatus(t, m)
	if hs.Data != "401" || hs.Chal == nil || hs.Chal.NextNonce != enrolledNonce {
		t.Fatalf("wrong digest: %+v", hs)
	}

	// Right credentials: 212, the next nonce, and a RespURI bound to the session.
	r, m = h.sendWith(nil, msg(deviceA, "1", 3, credHdr(digestFor(t, dev, enrolledNonce)), session1Alert, false))
	hs = headerStatus(t, m)
	if hs.Data != "212" || r.Report.Auth != "digest" || hs.Chal == nil || hs.Chal.NextNonce == enrolledNonce {
		t.Fatalf("right digest: %+v (%+v)", hs, r.Report)
	}
	if stored, _ := h.srv.Store.Device(ctx, deviceA); stored.Digest.ServerNonce != hs.Chal.NextNonce {
		t.Fatal("the spent nonce was not replaced")
	}
	token := respToken(t, m)

	// Later messages of the session go on with the token of the RespURI.
	_, m = h.sendToken(token, msg(deviceA, "1", 4, "", "", false))
	if headerStatus(t, m).Data != "200" || respToken(t, m) != token {
		t.Errorf("authenticated session with its token: %s", headerStatus(t, m).Data)
	}

	// A new session replaying the digest over the spent nonce is refused.
	_, m = h.sendWith(nil, msg(deviceA, "2", 1, credHdr(digestFor(t, dev, enrolledNonce)), session1Alert, true))
	if hs = headerStatus(t, m); hs.Data != "401" {
		t.Errorf("replayed nonce: %s, want 401", hs.Data)
	}
	// ...and a new session without credentials is challenged again.
	_, m = h.sendWith(nil, msg(deviceA, "3", 1, "", session1Alert, true))
	if headerStatus(t, m).Data != "407" {
		t.Errorf("new session without credentials: %s", headerStatus(t, m).Data)
	}
}

// TestDigestSessionHijack: knowing a device's DeviceID and SessionID gives
// a stranger nothing. Without the session token of the RespURI, a message
// is challenged, applies nothing, takes no queued command and writes
// nothing; tokens end with the session, after an idle time and at restart.
func TestDigestSessionHijack(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	dev := h.enroll(deviceA)
	ctx := context.Background()
	now := time.Now()
	h.srv.Now = func() time.Time { return now }
	wifi := h.enqueue(deviceA, store.CommandSpec{Verb: "Replace", Items: []store.ItemSpec{{Target: "./Vendor/MSFT/WiFi/Profile/Corp/WlanXml", Data: "wifi-key"}}})

	// The device opens session 1 with its digest; the reply carries the Wi-Fi command.
	_, m := h.sendWith(nil, msg(deviceA, "1", 1, credHdr(digestFor(t, dev, dev.Digest.ServerNonce)), session1Alert, true))
	token := respToken(t, m)
	if len(sentCommands(m)) != 1 {
		t.Fatalf("the device got %d commands, want its Wi-Fi profile", len(sentCommands(m)))
	}
	ack := status(2, "1", sentCommands(m)[0].CmdID, "Replace", 200)
	before, _ := h.srv.Store.Device(ctx, deviceA)
	queueBefore, _ := h.srv.Store.Queue(ctx, deviceA)

	attacks := map[string]func() (*Reply, *syncml.Message){
		"no token": func() (*Reply, *syncml.Message) {
			return h.sendWith(nil, msg(deviceA, "1", 2, "", status(2, "1", "2", "Replace", 200), true))
		},
		"guessed token": func() (*Reply, *syncml.Message) {
			return h.sendToken("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", msg(deviceA, "1", 2, "", status(2, "1", "2", "Replace", 200), true))
		},
		"other session": func() (*Reply, *syncml.Message) { return h.sendToken(token, msg(deviceA, "9", 2, "", "", true)) },
		"unenroll alert": func() (*Reply, *syncml.Message) {
			return h.sendWith(nil, msg(deviceA, "1", 2, "", `<Alert><CmdID>2</CmdID><Data>1226</Data><Item><Meta><Type xmlns="syncml:metinf">com.microsoft:mdm.unenrollment.userrequest</Type></Meta><Data>1</Data></Item></Alert>`, true))
		},
	}
	for name, attack := range attacks {
		r, m := attack()
		if hs := headerStatus(t, m); hs.Data != "407" || r.Report.Auth != "" || len(sentCommands(m)) != 0 {
			t.Errorf("%s: SyncHdr %s, auth %q, %d commands: the stranger was served", name, hs.Data, r.Report.Auth, len(sentCommands(m)))
		}
	}
	after, _ := h.srv.Store.Device(ctx, deviceA)
	queueAfter, _ := h.srv.Store.Queue(ctx, deviceA)
	if after.State != store.StateEnrolled || after.Digest.ServerNonce != before.Digest.ServerNonce {
		t.Errorf("refused messages changed the device: state %s, nonce changed %v", after.State, after.Digest.ServerNonce != before.Digest.ServerNonce)
	}
	if len(queueAfter.Commands) != len(queueBefore.Commands) || h.commands(deviceA)[wifi.ID].State != store.CommandSent {
		t.Error("refused messages acknowledged or changed the queue")
	}

	// The device itself goes on with its token and acknowledges the command.
	_, m = h.sendToken(token, msg(deviceA, "1", 2, "", ack, true))
	if headerStatus(t, m).Data != "200" || h.commands(deviceA)[wifi.ID].State != store.CommandAcknowledged {
		t.Fatalf("the device's own message: %s, command %s", headerStatus(t, m).Data, h.commands(deviceA)[wifi.ID].State)
	}
	// That reply had nothing more to send: the session is over, its token dead.
	if len(sentCommands(m)) != 0 || !m.Final {
		t.Fatal("expected the session's last reply")
	}
	_, m = h.sendToken(token, msg(deviceA, "1", 3, "", "", true))
	if headerStatus(t, m).Data != "407" {
		t.Errorf("token after the end of the session: %s, want 407", headerStatus(t, m).Data)
	}

	// Expiry: an idle session's token stops working.
	dev, _ = h.srv.Store.Device(ctx, deviceA)
	_, m = h.sendWith(nil, msg(deviceA, "4", 1, credHdr(digestFor(t, dev, dev.Digest.ServerNonce)), session1Alert, false))
	token = respToken(t, m)
	now = now.Add(h.srv.SessionIdle + time.Second)
	_, m = h.sendToken(token, msg(deviceA, "4", 2, "", "", true))
	if headerStatus(t, m).Data != "407" {
		t.Errorf("token after %v idle: %s, want 407", h.srv.SessionIdle, headerStatus(t, m).Data)
	}

	// Another live node over the same storage continues the session: the
	// token's hash is in the stored session, and its issuer's heartbeat
	// names the boot that issued it (cluster). A restart is another matter
	// (TestSessionTokenDiesAtRestart).
	dev, _ = h.srv.Store.Device(ctx, deviceA)
	_, m = h.sendWith(nil, msg(deviceA, "5", 1, credHdr(digestFor(t, dev, dev.Digest.ServerNonce)), session1Alert, false))
	token = respToken(t, m)
	if err := h.srv.Heartbeat(ctx, now); err != nil {
		t.Fatal(err)
	}
	peer := &Server{Store: h.srv.Store, ProviderID: h.srv.ProviderID, Auth: h.srv.Auth, Roots: h.srv.Roots, Now: h.srv.Now}
	if err := peer.Validate(); err != nil {
		t.Fatal(err)
	}
	h.srv = peer
	_, m = h.sendToken(token, msg(deviceA, "5", 2, "", "", true))
	if headerStatus(t, m).Data != "200" {
		t.Errorf("token on another node: %s, want 200", headerStatus(t, m).Data)
	}
	// ...and a wrong token there is still refused.
	_, m = h.sendToken(token+"x", msg(deviceA, "5", 3, "", "", true))
	if headerStatus(t, m).Data != "407" {
		t.Errorf("wrong token on another node: %s, want 407", headerStatus(t, m).Data)
	}
}

// respToken returns the session token of a reply's RespURI.
func respToken(t *testing.T, m *syncml.Message) string {
	t.Helper()
	u, err := url.Parse(m.Header.RespURI)
	if err != nil || m.Header.RespURI == "" || !strings.HasPrefix(m.Header.RespURI, serverURL+"?") {
		t.Fatalf("RespURI %q, want the server URL with a session token", m.Header.RespURI)
	}
	tok := u.Query().Get(SessionTokenParam)
	if len(tok) < 32 {
		t.Fatalf("session token %q is too short to be unguessable", tok)
	}
	return tok
}

// TestServerCredentials: when the device challenges the server in its
// status for our SyncHdr, the reply carries Cred computed with the CLIENT
// credentials over that nonce, and later sessions keep using it (P13).
func TestServerCredentials(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	dev := h.enroll(deviceA)
	_, m := h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	if m.Header.Cred != nil {
		t.Error("server credentials sent before the device asked")
	}
	nonce := base64.StdEncoding.EncodeToString([]byte("ABCDEFGHIJKLMNOP"))
	challenge := `<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>` +
		`<Chal><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type><NextNonce xmlns="syncml:metinf">` + nonce + `</NextNonce></Meta></Chal><Data>401</Data></Status>`
	_, m = h.send(deviceA, msg(deviceA, "1", 2, "", challenge, true))
	want := Digest("caddy-mdm", dev.Digest.ClientSecret, []byte("ABCDEFGHIJKLMNOP"))
	if c := m.Header.Cred; c == nil || c.Data != want || c.Type != syncml.AuthMD5 || c.Format != "b64" {
		t.Fatalf("server Cred %+v, want %s", m.Header.Cred, want)
	}
	_, m = h.send(deviceA, msg(deviceA, "2", 1, "", session1Alert, true))
	if c := m.Header.Cred; c == nil || c.Data != want {
		t.Errorf("later session Cred %+v, want the same nonce's digest", c)
	}
}

// TestServerNonceRenewedEverySession: Windows gives the server's nonce
// for the next session in its Status accepting the server's SyncHdr
// ("The DM client sends the new server nonce for the next session to the
// server over the Status element in every DM session", Microsoft's server
// requirements for OMA DM). The rest of this session keeps the nonce it
// had; the next session's replies prove the server over the new one.
func TestServerNonceRenewedEverySession(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	dev := h.enroll(deviceA)
	chal := func(code int, nonce string) string {
		return `<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>` +
			`<Chal><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type><NextNonce xmlns="syncml:metinf">` +
			base64.StdEncoding.EncodeToString([]byte(nonce)) + `</NextNonce></Meta></Chal><Data>` + itoa(code) + `</Data></Status>`
	}
	digestOver := func(nonce string) string { return Digest("caddy-mdm", dev.Digest.ClientSecret, []byte(nonce)) }
	h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	_, m := h.send(deviceA, msg(deviceA, "1", 2, "", chal(401, "first-nonce-1234"), true))
	if c := m.Header.Cred; c == nil || c.Data != digestOver("first-nonce-1234") {
		t.Fatalf("answer to the challenge: Cred %+v", c)
	}
	// Accepted, with the nonce for the next session.
	_, m = h.send(deviceA, msg(deviceA, "1", 3, "", chal(200, "next-nonce-56789"), true))
	if c := m.Header.Cred; c == nil || c.Data != digestOver("first-nonce-1234") {
		t.Errorf("the rest of the session: Cred %+v, want the session's nonce", c)
	}
	_, m = h.send(deviceA, msg(deviceA, "2", 1, "", session1Alert, true))
	if c := m.Header.Cred; c == nil || c.Data != digestOver("next-nonce-56789") {
		t.Fatalf("next session: Cred %+v, want the digest over the renewed nonce", c)
	}
	// Renewed again with 212, and kept across a restart (stored).
	h.send(deviceA, msg(deviceA, "2", 2, "", chal(212, "third-nonce-abcde"), true))
	stored, err := h.srv.Store.Device(context.Background(), deviceA)
	if err != nil || stored.Digest.ClientNextNonce != base64.StdEncoding.EncodeToString([]byte("third-nonce-abcde")) {
		t.Fatalf("stored next nonce: %+v %v", stored.Digest, err)
	}
	_, m = h.send(deviceA, msg(deviceA, "3", 1, "", session1Alert, true))
	if c := m.Header.Cred; c == nil || c.Data != digestOver("third-nonce-abcde") {
		t.Errorf("third session: Cred %+v", c)
	}
}

func TestCertificateBinding(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	h.enroll(deviceB)
	// B's valid certificate presented for A: refused, even with A's digest.
	r, m := h.sendWith([]*x509.Certificate{h.certs[deviceB]}, msg(deviceA, "1", 1, "", session1Alert, true))
	if headerStatus(t, m).Data != "403" || r.Report.Auth != "" {
		t.Errorf("other device's certificate: %s %+v", headerStatus(t, m).Data, r.Report)
	}
	// A certificate from another CA.
	other := testpki.NewCA(t, "ecdsa")
	r, m = h.sendWith([]*x509.Certificate{other.Root}, msg(deviceA, "1", 1, "", session1Alert, true))
	if headerStatus(t, m).Data != "403" {
		t.Errorf("foreign certificate: %s (%s)", headerStatus(t, m).Data, r.Report.Refused)
	}
	// Certificate-only mode refuses a message without certificate.
	h.srv.Auth = AuthCertificate
	_, m = h.sendWith(nil, msg(deviceA, "1", 1, "", session1Alert, true))
	if headerStatus(t, m).Data != "403" || headerStatus(t, m).Chal != nil {
		t.Errorf("certificate mode without certificate: %+v", headerStatus(t, m))
	}
	// Digest-only mode ignores a certificate and challenges.
	h.srv.Auth = AuthDigest
	_, m = h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	if headerStatus(t, m).Data != "407" {
		t.Errorf("digest mode with certificate only: %s", headerStatus(t, m).Data)
	}
}
