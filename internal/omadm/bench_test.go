package omadm

import (
	"context"
	"crypto/x509"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// BenchmarkRoundTrip is one management round trip of real device A: its
// package 1 (captured message 1) arrives with its client certificate and
// gets a queued Replace, then its statuses arrive and acknowledge it. Each
// message is parsed, authenticated, applied, answered (dequeue, marshal) and
// persisted. One op = the two messages; the command is queued untimed.
func BenchmarkRoundTrip(b *testing.B) {
	msg1 := capture.Read(b, "a-syncml-session1-msg1.xml")
	for _, backend := range []string{"file", "memory"} {
		b.Run("storage="+backend, func(b *testing.B) {
			var st certmagic.Storage = &certmagic.FileStorage{Path: b.TempDir()}
			if backend == "memory" {
				st = store.NewMemory()
			}
			h := newHarness(b, AuthEither, st)
			h.enroll(deviceA)
			peer := []*x509.Certificate{h.certs[deviceA]}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				h.enqueue(deviceA, replace("./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera", "0"))
				session := strconv.Itoa(i + 10)
				first := replaceSession(msg1, session)
				second := msg(deviceA, session, 2, "", status(1, "1", "0", "SyncHdr", 200)+status(2, "1", "5", "Replace", 200), true)
				b.StartTimer()

				r, err := h.srv.Handle(ctx, Request{Body: first, PeerCertificates: peer, ServerURL: serverURL})
				if err != nil || len(r.Report.Sent) != 1 {
					b.Fatalf("message 1: %v %+v", err, r.Report)
				}
				r, err = h.srv.Handle(ctx, Request{Body: second, PeerCertificates: peer, ServerURL: serverURL})
				if err != nil || len(r.Report.Acknowledged) != 1 {
					b.Fatalf("message 2: %v %+v", err, r.Report)
				}
			}
		})
	}
}

func replaceSession(m []byte, session string) []byte {
	return []byte(strings.Replace(string(m), "<SessionID>1</SessionID>", "<SessionID>"+session+"</SessionID>", 1))
}
