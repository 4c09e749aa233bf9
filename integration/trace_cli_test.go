package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// TestTraceCLIReadable reads an emulated device's trace with `caddy mdm
// trace`: each exchange summarised and indented, the issued certificate
// decoded with the thumbprint the server recorded; --raw and --json as
// before; colours only when asked (the output here is not a terminal).
func TestTraceCLIReadable(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	out, err := s.emulate("--state", t.TempDir())
	id := mustPass(t, "emulated enrollment and session", out, err)

	var detail struct {
		Device store.Device `json:"device"`
	}
	if r := s.admin(http.MethodGet, "/mdm/devices/"+id, ""); r.StatusCode != 200 || json.Unmarshal(r.body, &detail) != nil {
		t.Fatalf("device: %d %s", r.StatusCode, r.body)
	}

	tr, err := s.cli("trace", id)
	if err != nil {
		t.Fatalf("trace: %v\n%s", err, tr)
	}
	for _, want := range []string{
		" enrollment (HTTP 200)",
		"--> RequestSecurityToken (RST/wstep)",
		"    User: " + quickstartUser,
		"    certificate, PKCS#10 request: CN=",
		"<-- RequestSecurityTokenResponseCollection (RSTRC/wstep)",
		"    certificate, CertificateStore/My/User: CN=" + id,
		"      thumbprint (SHA-1) " + detail.Device.Certificate.Thumbprint,
		"    Document APPLICATION/APPAUTH/AAUTHSECRET = REDACTED",
		" management (HTTP 200)",
		"--> SyncML session 1 message 1, from " + id,
		"    [2] Alert 1201 client-initiated session",
		"    Final (end of package)",
		"\n    <SyncML xmlns=\"SYNCML:SYNCML1.2\">\n      <SyncHdr>\n",
	} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if strings.Contains(tr, "\x1b[") || strings.Contains(tr, quickstartPassword) {
		t.Error("colours on a pipe, or the password shown")
	}
	if colour, _ := s.cli("trace", id, "--color", "always"); !strings.Contains(colour, "\x1b[31m\x1b[1mREDACTED") {
		t.Error("--color always: REDACTED not in red")
	}

	raw, err := s.cli("trace", id, "--raw")
	if err != nil || !strings.Contains(raw, "\n--> <s:Envelope") || !strings.Contains(raw, "\n--> <SyncML") || strings.Contains(raw, "    [2] Alert") {
		t.Errorf("--raw: %v\n%s", err, raw)
	}
	js, err := s.cli("trace", id, "--json")
	var st store.Trace
	if err != nil || json.Unmarshal([]byte(js), &st) != nil || len(st.Exchanges) < 2 {
		t.Errorf("--json: %v\n%s", err, js)
	}
}
