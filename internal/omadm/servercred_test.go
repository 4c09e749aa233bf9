package omadm

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// TestRefusalsCarryNoServerCredentials: once a device has challenged the
// server, its authenticated replies carry the server's Cred, but a refused
// message (no credentials, a wrong digest, a wrong certificate, a bad
// session token, a device no longer enrolled) gets none: knowing a
// DeviceID must not buy a replayable server digest.
func TestRefusalsCarryNoServerCredentials(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	h.enroll(deviceB)
	nonce := base64.StdEncoding.EncodeToString([]byte("ABCDEFGHIJKLMNOP"))
	challenge := `<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>` +
		`<Chal><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type><NextNonce xmlns="syncml:metinf">` + nonce + `</NextNonce></Meta></Chal><Data>401</Data></Status>`
	h.send(deviceA, msg(deviceA, "1", 1, "", session1Alert, true))
	_, m := h.send(deviceA, msg(deviceA, "1", 2, "", challenge, true))
	if m.Header.Cred == nil {
		t.Fatal("the challenged server sent no credentials to the authenticated device")
	}

	refusals := []struct {
		name string
		req  Request
		want string
	}{
		{"no credentials", Request{Body: msg(deviceA, "2", 1, "", session1Alert, true)}, "407"},
		{"wrong digest", Request{Body: msg(deviceA, "2", 1, credHdr("d3JvbmcgZGlnZXN0"), session1Alert, true)}, "401"},
		{"another device's certificate", Request{Body: msg(deviceA, "2", 1, "", session1Alert, true), PeerCertificates: []*x509.Certificate{h.certs[deviceB]}}, "403"},
		{"bad session token", Request{Body: msg(deviceA, "1", 3, "", "", true), SessionToken: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "407"},
	}
	for _, r := range refusals {
		r.req.ServerURL = serverURL
		_, m := h.sendRequest(r.req)
		if hs := headerStatus(t, m); hs.Data != r.want {
			t.Fatalf("%s: SyncHdr %s, want %s", r.name, hs.Data, r.want)
		}
		if m.Header.Cred != nil {
			t.Errorf("%s: the refusal carries the server's credentials", r.name)
		}
	}

	// A retired device's messages are refused (403) without them too.
	stored, err := h.srv.Store.Device(context.Background(), deviceA)
	if err != nil || !stored.Digest.ClientChallenged {
		t.Fatalf("test setup: the device's challenge was not kept (%v)", err)
	}
	stored.State = store.StateRetired
	if err := h.srv.Store.PutDevice(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	if _, m := h.send(deviceA, msg(deviceA, "3", 1, "", session1Alert, true)); headerStatus(t, m).Data != "403" || m.Header.Cred != nil {
		t.Errorf("retired device: SyncHdr %s, Cred %+v", headerStatus(t, m).Data, m.Header.Cred)
	}
}
