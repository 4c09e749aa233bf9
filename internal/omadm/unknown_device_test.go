package omadm

import (
	"context"
	"crypto/x509"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// countingRecorder records which devices Handle asked to trace.
type countingRecorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *countingRecorder) RecordManagement(_ context.Context, id string, _, _ []byte, _ SensitiveCmdIDs) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
	return nil
}

// TestUnknownDeviceLeavesNoTrace: messages naming a device that never
// enrolled, without credentials, with another device's valid certificate,
// or with a digest Cred, are refused with 403, ask for no trace and write
// no storage key naming the device. The known device's authenticated
// message is traced (the recorder is wired).
func TestUnknownDeviceLeavesNoTrace(t *testing.T) {
	mem := store.NewMemory()
	h := newHarness(t, AuthEither, mem)
	rec := &countingRecorder{}
	h.srv.Recorder = rec
	h.enroll(deviceB)
	ctx := context.Background()
	const unknown = "0000000000000000000000000000FFFF"
	for name, peer := range map[string][]*x509.Certificate{"no credentials": nil, "B's certificate": {h.certs[deviceB]}} {
		r, m := h.sendWith(peer, msg(unknown, "1", 1, "", session1Alert, true))
		if hs := headerStatus(t, m); hs.Data != "403" || r.Report.Auth != "" {
			t.Errorf("%s: %s %+v", name, hs.Data, r.Report)
		}
	}
	r, m := h.sendWith(nil, msg(unknown, "2", 1, credHdr("AAAAAAAAAAAAAAAAAAAAAA=="), session1Alert, true))
	if hs := headerStatus(t, m); hs.Data != "403" || r.Report.Auth != "" {
		t.Errorf("digest Cred: %s %+v", hs.Data, r.Report)
	}
	if len(rec.ids) != 0 {
		t.Errorf("trace asked for %v", rec.ids)
	}
	keys, err := mem.List(ctx, "mdm", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, unknown) {
			t.Errorf("storage key %q names the unknown device", k)
		}
	}
	if mem.Exists(ctx, "mdm/devices/"+unknown) {
		t.Error("mdm/devices/<unknown> exists")
	}
	h.send(deviceB, msg(deviceB, "3", 1, "", session1Alert, true))
	if len(rec.ids) != 1 || rec.ids[0] != deviceB {
		t.Errorf("B's authenticated message: trace asked for %v", rec.ids)
	}
}
