package omadm

import (
	"context"
	"crypto/md5"
	"crypto/x509"
	"encoding/base64"
	"testing"

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

	// No credentials, no certificate: 407 with a fresh nonce; nothing applied.
	r, m := h.sendWith(nil, msg(deviceA, "1", 1, "", session1Alert+`<Replace><CmdID>3</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>X</Data></Item></Replace>`, true))
	hs := headerStatus(t, m)
	if hs.Data != "407" || hs.Chal == nil || hs.Chal.Type != syncml.AuthMD5 || hs.Chal.Format != "b64" || r.Report.Auth != "" {
		t.Fatalf("no credentials: %+v %+v", hs, hs.Chal)
	}
	if inv, _ := h.srv.Store.Inventory(ctx, deviceA); len(inv.Nodes) != 0 {
		t.Error("an unauthenticated message was applied")
	}
	nonce1 := hs.Chal.NextNonce
	stored, _ := h.srv.Store.Device(ctx, deviceA)
	if stored.Digest.ServerNonce != nonce1 || nonce1 == dev.Digest.ServerNonce {
		t.Fatal("challenge nonce not stored or not fresh")
	}

	// Wrong credentials: 401 with another fresh nonce.
	_, m = h.sendWith(nil, msg(deviceA, "1", 2, credHdr("d3JvbmcgZGlnZXN0"), session1Alert, true))
	hs = headerStatus(t, m)
	if hs.Data != "401" || hs.Chal == nil || hs.Chal.NextNonce == nonce1 {
		t.Fatalf("wrong digest: %+v", hs)
	}
	nonce2 := hs.Chal.NextNonce

	// Right credentials over the latest nonce: 212, and the next nonce.
	r, m = h.sendWith(nil, msg(deviceA, "1", 3, credHdr(digestFor(t, stored, nonce2)), session1Alert, true))
	hs = headerStatus(t, m)
	if hs.Data != "212" || r.Report.Auth != "digest" || hs.Chal == nil || hs.Chal.NextNonce == nonce2 {
		t.Fatalf("right digest: %+v (%+v)", hs, r.Report)
	}
	nonce3 := hs.Chal.NextNonce

	// Later messages of the session need no credentials.
	_, m = h.sendWith(nil, msg(deviceA, "1", 4, "", "", true))
	if headerStatus(t, m).Data != "200" {
		t.Errorf("authenticated session: %s", headerStatus(t, m).Data)
	}

	// A new session replaying the digest over an old nonce is refused.
	_, m = h.sendWith(nil, msg(deviceA, "2", 1, credHdr(digestFor(t, stored, nonce2)), session1Alert, true))
	hs = headerStatus(t, m)
	if hs.Data != "401" {
		t.Errorf("replayed nonce: %s, want 401", hs.Data)
	}
	// ...and a new session without credentials is challenged again.
	_, m = h.sendWith(nil, msg(deviceA, "3", 1, "", session1Alert, true))
	if headerStatus(t, m).Data != "407" {
		t.Errorf("new session without credentials: %s", headerStatus(t, m).Data)
	}
	_ = nonce3
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
