package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// TestKilledProcessLeavesNothingReadAsARecord kills caddy with SIGKILL,
// leaves in storage what a write cut short leaves (the file storage writes a
// temporary file beside a key and renames it into place: a 0-byte one and a
// partial one), and checks that the restarted server reads none of them as
// a record, removes them, and still serves the device.
func TestKilledProcessLeavesNothingReadAsARecord(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = s.cmd.Process.Wait()

	devDir := filepath.Join(s.dataDir(), "mdm", "devices", deviceA)
	leftovers := map[string][]byte{
		filepath.Join(devDir, "1234567890"):             nil,
		filepath.Join(devDir, "2345678901"):             []byte(`{"session_id":"1","sta`),
		filepath.Join(devDir, "commands", "3456789012"): []byte(`{"id":`),
	}
	past := time.Now().Add(-time.Hour)
	for f, b := range leftovers {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, past, past); err != nil {
			t.Fatal(err)
		}
	}

	s.start()
	if !s.logs.waitFor("removed temporary files a stopped process left in storage") {
		t.Error("no log line for the removed leftovers")
	}
	for f := range leftovers {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s is still there", filepath.Base(f))
		}
	}
	r := s.admin(http.MethodGet, "/mdm/devices/"+deviceA+"/commands", "")
	if r.StatusCode != http.StatusOK {
		t.Errorf("commands after the crash: %d %s", r.StatusCode, r.body)
	}
	_, m := s.manage(s.deviceClient(a.cert), capture.Read(t, "a-syncml-session1-msg1.xml"))
	if m.Commands[0].Data != "200" {
		t.Errorf("the device after the crash: SyncHdr %s", m.Commands[0].Data)
	}
}
