package omadm

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

type recorded struct{ deviceID, request string }

type fakeRecorder struct{ got []recorded }

func (f *fakeRecorder) RecordManagement(_ context.Context, id string, req, _ []byte, _ SensitiveCmdIDs) error {
	f.got = append(f.got, recorded{id, string(req)})
	return nil
}

// TestRecorderRule: only authenticated exchanges are recorded; a message
// refused (no credentials, another device's certificate, an unknown
// device, a malformed one) never is, so a stranger neither creates a trace
// nor pushes the device's real exchanges out of it.
func TestRecorderRule(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	rec := &fakeRecorder{}
	h.srv.Recorder = rec
	h.enroll(deviceA)
	h.enroll(deviceB)
	good := capture.Read(t, "a-syncml-session1-msg1.xml")

	h.sendWith(nil, good)                // no credentials: 407
	h.sendWith(peerOf(h, deviceB), good) // B's certificate for A: 403
	unknown := strings.ReplaceAll(string(good), deviceA, "0000000000000000000000000000AAAA")
	h.sendWith(nil, []byte(unknown))                                                           // unknown device: 403
	_, _ = h.srv.Handle(context.Background(), Request{Body: good[:200], ServerURL: serverURL}) // malformed
	if len(rec.got) != 0 {
		t.Fatalf("refused messages were recorded: %+v", rec.got)
	}
	h.send(deviceA, good)
	if len(rec.got) != 1 || rec.got[0].deviceID != deviceA || rec.got[0].request != string(good) {
		t.Fatalf("the authenticated exchange: %d recorded", len(rec.got))
	}
}
