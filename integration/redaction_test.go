package integration

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// debugQuickstart is the quickstart (device traces on) with debug logging,
// where every exchange is logged.
func debugQuickstart(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "caddyfile-examples", "quickstart.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "\n{\n", "\n{\n\tdebug\n", 1)
	if cfg == string(b) || !strings.Contains(cfg, "trace_exchanges") {
		t.Fatal("cannot turn the quickstart's debug log on")
	}
	p := filepath.Join(t.TempDir(), "debug.Caddyfile")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wsseNS is the namespace of wsse:Password.
const wsseNS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"

var passwordElem = regexp.MustCompile(`<wsse:Password ([^>]*)>` + regexp.QuoteMeta(quickstartPassword) + `</wsse:Password>`)

// cdataPassword and dottedPassword write the quickstart password in the
// forms the regular expressions of the first redaction missed.
func cdataPassword(t *testing.T, b []byte) []byte {
	t.Helper()
	out := passwordElem.ReplaceAll(b, []byte(`<wsse:Password $1><![CDATA[`+quickstartPassword+`]]></wsse:Password>`))
	if bytes.Equal(out, b) {
		t.Fatal("no password element to rewrite")
	}
	return out
}

func dottedPassword(t *testing.T, b []byte) []byte {
	t.Helper()
	out := passwordElem.ReplaceAll(b, []byte(`<a.b:Password xmlns:a.b="`+wsseNS+`" $1>`+quickstartPassword+`</a.b:Password>`))
	if bytes.Equal(out, b) {
		t.Fatal("no password element to rewrite")
	}
	return out
}

// TestSecretsStayOutOfLogsAndTraces runs a real Caddy with debug logs and
// device traces on: passwords written in CDATA or with a dotted prefix,
// data of commands marked sensitive, a Wi-Fi profile (a secret node
// whatever the flag) and the results of a sensitive Get reach neither the
// log, nor the device trace (CLI and admin API), nor the command listings,
// while the device receives the data and acknowledges it.
func TestSecretsStayOutOfLogsAndTraces(t *testing.T) {
	s := startCaddyFile(t, debugQuickstart(t))
	const (
		flagged   = "Flagged-Secret-7Q2x"  // sensitive Replace, API
		flaggedCL = "Cli-Secret-4Kd9"      // sensitive Replace, CLI
		wifiKey   = "Wifi-Key-Secret-9Zr3" // Replace of a WlanXml, no flag
		resultVal = "Result-Secret-2Mv8"   // what the device returns for a sensitive Get
		wifiURI   = "./Vendor/MSFT/WiFi/Profile/x/WlanXml"
		swv       = "10.0.19043.2364-visible" // results of a plain Get stay readable
	)
	secrets := []string{quickstartPassword, flagged, flaggedCL, wifiKey, resultVal}
	noSecret := func(what, out string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(out, sec) {
				t.Errorf("%s shows %q:\n%s", what, sec, out)
			}
		}
	}

	// GetPolicies with the password in CDATA, then with a dotted prefix.
	for _, body := range [][]byte{
		cdataPassword(t, asQuickstartUser(t, "a-policy-request.xml")),
		dottedPassword(t, asQuickstartUser(t, "a-policy-request.xml")),
	} {
		if r := s.postSOAP("/EnrollmentServer/Policy.svc", body); r.StatusCode != http.StatusOK {
			t.Errorf("GetPolicies: %d %s", r.StatusCode, r.body)
		}
	}

	// Enrollment with the password in CDATA: it lands in the device trace.
	key := testpki.NewKey(t, "rsa")
	req := asQuickstartUser(t, "a-enroll-request.xml")
	req = bytes.Replace(req, []byte(base64.StdEncoding.EncodeToString(capture.CSR(t, "a-enroll-request.xml"))),
		[]byte(base64.StdEncoding.EncodeToString(testpki.NewCSR(t, key, "ignored"))), 1)
	r := s.postSOAP("/EnrollmentServer/Enrollment.svc", cdataPassword(t, req))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("enroll: %d %s", r.StatusCode, r.body)
	}
	_, cert := enrollmentResult(t, r.body)
	dev := s.deviceClient(tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert})
	s.manage(dev, capture.Read(t, "a-syncml-session1-msg1.xml"))

	// The admin queues secrets: flagged (API, CLI), a Wi-Fi profile
	// without the flag, a sensitive Get, and a plain Get.
	devPath := "/mdm/devices/" + deviceA + "/commands"
	for _, body := range []string{
		`{"verb":"Replace","sensitive":true,"items":[{"target":"./Vendor/MSFT/Custom/Flagged","data":"` + flagged + `"}]}`,
		`{"verb":"Replace","items":[{"target":"` + wifiURI + `","data":"<WLANProfile><keyMaterial>` + wifiKey + `</keyMaterial></WLANProfile>"}]}`,
		`{"verb":"Get","sensitive":true,"items":[{"target":"./Vendor/MSFT/Custom/Secret"}]}`,
		`{"verb":"Get","items":[{"target":"./DevDetail/SwV"}]}`,
	} {
		r := s.admin(http.MethodPost, devPath, body)
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("enqueue %s: %d %s", body, r.StatusCode, r.body)
		}
		noSecret("the enqueue answer", string(r.body))
	}
	out, err := s.cli("send", deviceA, "--replace", "./Vendor/MSFT/Custom/FromCLI="+flaggedCL, "--sensitive")
	if err != nil || !strings.Contains(out, "queued") {
		t.Fatalf("caddy mdm send --sensitive: %v\n%s", err, out)
	}
	noSecret("caddy mdm send", out)

	// The device receives the real data...
	r, m := s.manage(dev, sessionMsg(t, "a-syncml-session1-msg1.xml", "2"))
	got := map[string]*syncml.Command{}
	for _, c := range m.Commands {
		if len(c.Items) == 1 {
			got[c.Items[0].Target] = c
		}
	}
	for target, data := range map[string]string{
		"./Vendor/MSFT/Custom/Flagged": flagged,
		"./Vendor/MSFT/Custom/FromCLI": flaggedCL,
		wifiURI:                        "<WLANProfile><keyMaterial>" + wifiKey + "</keyMaterial></WLANProfile>",
	} {
		if c := got[target]; c == nil || c.Items[0].Data != data {
			t.Errorf("the device did not receive %s=%s:\n%s", target, data, r.body)
		}
	}
	getSecret, getSwV := got["./Vendor/MSFT/Custom/Secret"], got["./DevDetail/SwV"]
	if getSecret == nil || getSwV == nil || len(got) != 5 {
		t.Fatalf("session 2 commands: %s", r.body)
	}
	// ...and acknowledges it all, returning a secret for the sensitive Get.
	var answer strings.Builder
	fmt.Fprintf(&answer, `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>2</SessionID><MsgID>2</MsgID>`+
		`<Target><LocURI>%s</LocURI></Target><Source><LocURI>%s</LocURI></Source></SyncHdr><SyncBody>`+
		`<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>`, s.url("/ManagementServer/MDM.svc"), deviceA)
	next := 2
	for _, c := range got {
		fmt.Fprintf(&answer, `<Status><CmdID>%d</CmdID><MsgRef>1</MsgRef><CmdRef>%s</CmdRef><Cmd>%s</Cmd><Data>200</Data></Status>`, next, c.CmdID, c.Name)
		next++
	}
	fmt.Fprintf(&answer, `<Results><CmdID>%d</CmdID><MsgRef>1</MsgRef><CmdRef>%s</CmdRef><Item><Source><LocURI>./Vendor/MSFT/Custom/Secret</LocURI></Source><Data>%s</Data></Item></Results>`, next, getSecret.CmdID, resultVal)
	fmt.Fprintf(&answer, `<Results><CmdID>%d</CmdID><MsgRef>1</MsgRef><CmdRef>%s</CmdRef><Item><Source><LocURI>./DevDetail/SwV</LocURI></Source><Data>%s</Data></Item></Results>`, next+1, getSwV.CmdID, swv)
	answer.WriteString(`<Final/></SyncBody></SyncML>`)
	if _, m = s.manage(dev, []byte(answer.String())); !m.Final {
		t.Errorf("end of session 2: %+v", m.Commands)
	}

	// The command listings: acknowledged, data REDACTED, plain results kept.
	r = s.admin(http.MethodGet, devPath, "")
	noSecret("GET commands", string(r.body))
	var list struct {
		Commands []struct {
			ID, State string
			Spec      struct{ Sensitive bool }
		}
	}
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Commands) != 5 {
		t.Fatalf("commands: %v %s", err, r.body)
	}
	sensitive := 0
	for _, c := range list.Commands {
		if c.State != "acknowledged" {
			t.Errorf("command %s is %s", c.ID, c.State)
		}
		if c.Spec.Sensitive {
			sensitive++
			one := s.admin(http.MethodGet, devPath+"/"+c.ID, "")
			noSecret("GET command", string(one.body))
		}
	}
	if sensitive != 3 || !bytes.Contains(r.body, []byte(`"REDACTED"`)) || !bytes.Contains(r.body, []byte(swv)) || !bytes.Contains(r.body, []byte(wifiURI)) {
		t.Errorf("commands (3 sensitive, REDACTED data, plain results kept): %s", r.body)
	}
	out, err = s.cli("commands", deviceA)
	if err != nil || !strings.Contains(out, swv) || !strings.Contains(out, "(sensitive)") {
		t.Errorf("caddy mdm commands: %v\n%s", err, out)
	}
	noSecret("caddy mdm commands", out)

	// The device trace: enrollment and the three management exchanges.
	out, err = s.cli("trace", deviceA)
	if err != nil || strings.Count(out, "=== ") != 4 || !strings.Contains(out, swv) || !strings.Contains(out, wifiURI) ||
		!strings.Contains(out, ">REDACTED</wsse:Password>") || !strings.Contains(out, `name="AAUTHSECRET" value="REDACTED"`) {
		t.Errorf("caddy mdm trace (4 exchanges, readable, redacted): %v\n%s", err, out)
	}
	noSecret("caddy mdm trace", out)
	r = s.admin(http.MethodGet, "/mdm/devices/"+deviceA+"/trace", "")
	if r.StatusCode != http.StatusOK || !bytes.Contains(r.body, []byte("./Vendor/MSFT/Custom/Flagged")) {
		t.Errorf("trace API: %d %s", r.StatusCode, r.body)
	}
	noSecret("the trace API", string(r.body))

	// The debug log, once the process has written all of it.
	s.stop()
	logs := s.logs.String()
	noSecret("the log", logs)
	for _, want := range []string{`"msg":"request"`, "GetPolicies", "./Vendor/MSFT/Custom/FromCLI", wifiURI, swv, "REDACTED"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the debug log lacks %q: the test proves nothing", want)
		}
	}
}
