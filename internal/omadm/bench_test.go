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

// BenchmarkPoll is the common message: real device A's package 1 (its
// alerts and DevInfo, as captured) with its client certificate, for a
// device with nothing queued and nothing new to report. One op = one
// message: parsed, authenticated, applied and answered; the session ends
// quietly, so nothing is written at once. Run with -cpu 1 for messages per
// second per core.
func BenchmarkPoll(b *testing.B) {
	msg1 := capture.Read(b, "a-syncml-session1-msg1.xml")
	h := newHarness(b, AuthEither, store.NewMemory())
	h.enroll(deviceA)
	peer := []*x509.Certificate{h.certs[deviceA]}
	ctx := context.Background()
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = replaceSession(msg1, strconv.Itoa(i+10))
	}
	if _, err := h.srv.Handle(ctx, Request{Body: bodies[0], PeerCertificates: peer, ServerURL: serverURL}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r, err := h.srv.Handle(ctx, Request{Body: bodies[(i+1)%len(bodies)], PeerCertificates: peer, ServerURL: serverURL})
		if err != nil || len(r.Report.Sent) != 0 || !r.Report.Final {
			b.Fatalf("poll: %v %+v", err, r)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func replaceSession(m []byte, session string) []byte {
	return []byte(strings.Replace(string(m), "<SessionID>1</SessionID>", "<SessionID>"+session+"</SessionID>", 1))
}
