package omadm

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// openDigestSession opens a digest session on h's server with a command
// queued, so that the session stays open, and returns its token.
func openDigestSession(t *testing.T, h *harness, session string) string {
	t.Helper()
	dev, err := h.srv.Store.Device(context.Background(), deviceA)
	if err != nil {
		t.Fatal(err)
	}
	h.enqueue(deviceA, replace("./Device/Vendor/MSFT/Test/"+session, "x"))
	_, m := h.sendWith(nil, msg(deviceA, session, 1, credHdr(digestFor(t, dev, dev.Digest.ServerNonce)), session1Alert, true))
	if hs := headerStatus(t, m); hs.Data != "212" || len(sentCommands(m)) == 0 {
		t.Fatalf("digest session %s: SyncHdr %s, %d commands: want it open", session, hs.Data, len(sentCommands(m)))
	}
	return respToken(t, m)
}

// restart is a new Server over h's storage, as after a restart of the
// process (same configuration, node named node).
func restart(t *testing.T, h *harness, node string) *Server {
	t.Helper()
	s := &Server{Store: h.srv.Store, ProviderID: h.srv.ProviderID, Auth: h.srv.Auth, Roots: h.srv.Roots, Now: h.srv.Now, NodeID: node}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSessionTokenDiesAtRestart: a session left open (a command in flight)
// cannot be continued with its token by the server restarted over the
// same storage, whether the restarted node draws a new node ID or keeps
// the old one; the message is challenged and applies nothing.
func TestSessionTokenDiesAtRestart(t *testing.T) {
	for _, node := range []string{"", "node-A"} {
		t.Run("node="+node, func(t *testing.T) {
			h := newHarness(t, AuthEither, store.NewMemory())
			now := time.Now()
			h.srv.Now = func() time.Time { return now }
			h.srv.NodeID = "node-A"
			h.enroll(deviceA)
			token := openDigestSession(t, h, "1")

			h.srv = restart(t, h, node)
			r, m := h.sendToken(token, msg(deviceA, "1", 2, "", `<Replace><CmdID>2</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>X</Data></Item></Replace>`, true))
			if hs := headerStatus(t, m); hs.Data != "407" || r.Report.Auth != "" {
				t.Fatalf("token after a restart: SyncHdr %s, auth %q; want 407", hs.Data, r.Report.Auth)
			}
			if inv, _ := h.srv.Store.Inventory(context.Background(), deviceA); inv.Nodes["./DevInfo/Man"] == "X" {
				t.Error("the refused message was applied")
			}
		})
	}
}

// TestSessionTokenOnClusterPeers: another node continues a digest session
// while the token's issuer runs (its heartbeat alive, naming the boot that
// issued the token); once the issuer died or restarted, no node accepts
// the token.
func TestSessionTokenOnClusterPeers(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// beat writes node-A's heartbeat as the case has it.
		beat func(t *testing.T, a *Server, h *harness, now time.Time)
		want string
	}{
		{"issuer alive", func(t *testing.T, a *Server, _ *harness, now time.Time) {
			if err := a.Heartbeat(ctx, now); err != nil {
				t.Fatal(err)
			}
		}, "200"},
		{"issuer of an earlier version alive (heartbeat without boot)", func(t *testing.T, a *Server, _ *harness, now time.Time) {
			if err := a.Store.Heartbeat(ctx, a.NodeID, now); err != nil {
				t.Fatal(err)
			}
		}, "200"},
		{"issuer never announced", func(*testing.T, *Server, *harness, time.Time) {}, "407"},
		{"issuer dead", func(t *testing.T, a *Server, _ *harness, now time.Time) {
			if err := a.Heartbeat(ctx, now.Add(-store.NodeTimeout)); err != nil {
				t.Fatal(err)
			}
		}, "407"},
		{"issuer restarted under its node ID", func(t *testing.T, _ *Server, h *harness, now time.Time) {
			if err := restart(t, h, "node-A").Heartbeat(ctx, now); err != nil {
				t.Fatal(err)
			}
		}, "407"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, AuthEither, store.NewMemory())
			now := time.Now()
			h.srv.Now = func() time.Time { return now }
			h.srv.NodeID = "node-A"
			a := h.srv
			b := restart(t, h, "node-B")
			h.enroll(deviceA)
			token := openDigestSession(t, h, "1")
			c.beat(t, a, h, now)

			h.srv = b
			r, m := h.sendToken(token, msg(deviceA, "1", 2, "", "", false))
			if hs := headerStatus(t, m); hs.Data != c.want {
				t.Fatalf("token on node-B: SyncHdr %s (auth %q), want %s", hs.Data, r.Report.Auth, c.want)
			}
			if c.want != "200" {
				return
			}
			// B's reply goes on with the same token, and the issuer too
			// still accepts it.
			if respToken(t, m) != token {
				t.Error("node-B's RespURI changed the token")
			}
			h.srv = a
			if _, m = h.sendToken(token, msg(deviceA, "1", 3, "", "", false)); headerStatus(t, m).Data != "200" {
				t.Errorf("token back on its issuer: %s", headerStatus(t, m).Data)
			}
		})
	}
}
