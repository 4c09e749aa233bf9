package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// TestDigestSessionCannotBeHijacked performs the session hijack against the
// quickstart: a device authenticates an OMA-DM session with MD5 digest;
// a stranger who knows its DeviceID and SessionID (they are not secret)
// sends the next messages of that session without the session token of the
// RespURI. Every such message is challenged, applies nothing, receives no
// command, acknowledges nothing, unenrolls nothing and is kept out of the
// device's trace; the device itself goes on at its RespURI; the token of a
// session still open stops working at a restart.
func TestDigestSessionCannotBeHijacked(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	r := s.admin(http.MethodPost, "/mdm/devices/"+deviceA+"/commands",
		`{"verb":"Replace","items":[{"target":"./Vendor/MSFT/WiFi/Profile/Corp/WlanXml","data":"corp-wifi"}]}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("enqueue: %d %s", r.StatusCode, r.body)
	}
	var queued struct{ ID string }
	_ = json.Unmarshal(r.body, &queued)

	// The device opens its session with the digest of its provisioning document.
	srv := appAuth(a.doc, "APPSRV")
	cred := func(nonceB64 string) string {
		nonce, _ := base64.StdEncoding.DecodeString(nonceB64)
		return `<Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data>` +
			omadm.Digest(srv.Value("AAUTHNAME"), srv.Value("AAUTHSECRET"), nonce) + `</Data></Cred>`
	}
	_, m := s.manage(s.client, msg1Session(t, cred(srv.Value("AAUTHDATA")), "1"))
	if st := m.Commands[0]; st.Data != "212" || st.Chal == nil {
		t.Fatalf("the device's digest: SyncHdr %+v", st)
	}
	nextNonce := m.Commands[0].Chal.NextNonce
	respURI, err := url.Parse(m.Header.RespURI)
	if err != nil || m.Header.RespURI == "" || respURI.Query().Get(omadm.SessionTokenParam) == "" {
		t.Fatalf("the 212 reply binds no session: RespURI %q", m.Header.RespURI)
	}
	if respURI.Query().Get("mode") != "Maintenance" || respURI.Query().Get("Platform") != "WoA" {
		t.Errorf("RespURI %q drops the device's query parameters", m.Header.RespURI)
	}
	var wifi *syncml.Command
	for _, c := range m.Commands {
		if c.Name == "Replace" {
			wifi = c
		}
	}
	if wifi == nil {
		t.Fatalf("the Wi-Fi profile was not sent: %+v", m.Commands)
	}
	ack := []byte(fmt.Sprintf(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID>`+
		`<Target><LocURI>%s</LocURI></Target><Source><LocURI>%s</LocURI></Source></SyncHdr><SyncBody>`+
		`<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>`+
		`<Status><CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>%s</CmdRef><Cmd>Replace</Cmd><Data>200</Data></Status>`+
		`<Replace><CmdID>3</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>ATTACKER</Data></Item></Replace><Final/></SyncBody></SyncML>`,
		s.url("/ManagementServer/MDM.svc"), deviceA, wifi.CmdID))
	unenroll := bytes.ReplaceAll(capture.Read(t, "b-syncml-session2-unenroll.xml"), []byte(deviceB), []byte(deviceA))
	unenroll = bytes.Replace(bytes.Replace(unenroll, []byte("<SessionID>2</SessionID>"), []byte("<SessionID>1</SessionID>"), 1), []byte("<MsgID>1</MsgID>"), []byte("<MsgID>2</MsgID>"), 1)
	flood := bytes.Replace(ack, []byte("ATTACKER"), bytes.Repeat([]byte("A"), 900<<10), 1)

	for _, attack := range []struct {
		name, path string
		body       []byte
	}{
		{"no token", managePath, ack},
		{"guessed token", managePath + "&" + omadm.SessionTokenParam + "=" + strings.Repeat("A", 32), ack},
		{"unenrollment alert", managePath, unenroll},
		{"900 KB message", managePath, flood},
		{"900 KB message again", managePath, flood},
	} {
		r := s.do(s.client, http.MethodPost, attack.path, syncmlMedia, attack.body)
		m, err := syncml.Parse(r.body)
		if r.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %s", attack.name, r.StatusCode, clipped(r.body))
		}
		if st := m.Commands[0]; st.Data != "407" || len(m.Commands) != 1 {
			t.Errorf("%s: the stranger was served: SyncHdr %s, %d commands", attack.name, st.Data, len(m.Commands))
		}
	}
	if !s.logs.waitFor("session token") {
		t.Error("the refusals are not logged with their reason")
	}

	// Nothing the stranger sent took effect.
	var detail struct {
		Device    struct{ State string }
		Inventory struct{ Nodes map[string]string }
	}
	r = s.admin(http.MethodGet, "/mdm/devices/"+deviceA, "")
	if err := json.Unmarshal(r.body, &detail); err != nil {
		t.Fatalf("device: %v %s", err, r.body)
	}
	if detail.Device.State != "enrolled" || detail.Inventory.Nodes["./DevInfo/Man"] == "ATTACKER" {
		t.Errorf("the stranger changed the device: state %s, Man %q", detail.Device.State, detail.Inventory.Nodes["./DevInfo/Man"])
	}
	if st := commandState(t, s, queued.ID); st != "sent" {
		t.Errorf("the Wi-Fi command is %s after the attack, want still sent", st)
	}
	// ...nor reached the trace: only the device's own exchanges are kept.
	r = s.admin(http.MethodGet, "/mdm/devices/"+deviceA+"/trace", "")
	if bytes.Contains(r.body, []byte("ATTACKER")) || bytes.Contains(r.body, []byte("AAAAAAAAAA")) || len(r.body) > 200<<10 {
		t.Errorf("refused messages reached the device trace (%d bytes)", len(r.body))
	}

	// The device goes on at its RespURI: its acknowledgement counts.
	r = s.do(s.client, http.MethodPost, respURI.RequestURI(), syncmlMedia, bytes.Replace(ack, []byte("ATTACKER"), []byte("VMware, Inc."), 1))
	if m, err := syncml.Parse(r.body); err != nil || m.Commands[0].Data != "200" {
		t.Fatalf("the device at its RespURI: %d %s", r.StatusCode, clipped(r.body))
	}
	if st := commandState(t, s, queued.ID); st != "acknowledged" {
		t.Errorf("the device's acknowledgement: command %s", st)
	}

	// No session survives a restart. Session 7 is left open (a command in
	// flight, a package not final): its token works until Caddy restarts
	// over the same storage, and is refused after.
	r = s.admin(http.MethodPost, "/mdm/devices/"+deviceA+"/commands",
		`{"verb":"Replace","items":[{"target":"./Vendor/MSFT/Test/Restart","data":"x"}]}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("enqueue: %d %s", r.StatusCode, r.body)
	}
	_, m = s.manage(s.client, msg1Session(t, cred(nextNonce), "7"))
	token := mustToken(t, m)
	if st := m.Commands[0]; st.Data != "212" || len(m.Commands) < 2 || m.Commands[len(m.Commands)-1].Name != "Replace" {
		t.Fatalf("session 7 does not stay open: SyncHdr %s, %d commands", st.Data, len(m.Commands))
	}
	session7 := func(msgID, body string, final bool) []byte {
		f := ""
		if final {
			f = "<Final/>"
		}
		return []byte(fmt.Sprintf(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>7</SessionID><MsgID>%s</MsgID>`+
			`<Target><LocURI>%s</LocURI></Target><Source><LocURI>%s</LocURI></Source></SyncHdr><SyncBody>%s%s</SyncBody></SyncML>`,
			msgID, s.url("/ManagementServer/MDM.svc"), deviceA, body, f))
	}
	withToken := managePath + "&" + omadm.SessionTokenParam + "=" + url.QueryEscape(token)
	r = s.do(s.client, http.MethodPost, withToken, syncmlMedia,
		session7("2", `<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>`, false))
	if m, err := syncml.Parse(r.body); err != nil || m.Commands[0].Data != "200" {
		t.Fatalf("the open session's token before the restart: %d %s", r.StatusCode, clipped(r.body))
	}
	s.stop()
	s.start()
	r = s.do(s.client, http.MethodPost, withToken, syncmlMedia, session7("3",
		`<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>AFTER-RESTART</Data></Item></Replace>`, true))
	if m, err := syncml.Parse(r.body); err != nil || m.Commands[0].Data != "407" || len(m.Commands) != 1 {
		t.Errorf("the session token after a restart: %d %s", r.StatusCode, clipped(r.body))
	}
	r = s.admin(http.MethodGet, "/mdm/devices/"+deviceA, "")
	if bytes.Contains(r.body, []byte("AFTER-RESTART")) {
		t.Error("the message refused after the restart was applied")
	}
}

// msg1Session is the captured first message in a session, with credentials.
func msg1Session(t *testing.T, cred, session string) []byte {
	t.Helper()
	return bytes.Replace(sessionMsg(t, "a-syncml-session1-msg1.xml", session), []byte("</SyncHdr>"), []byte(cred+"</SyncHdr>"), 1)
}

func mustToken(t *testing.T, m *syncml.Message) string {
	t.Helper()
	u, err := url.Parse(m.Header.RespURI)
	if err != nil || u.Query().Get(omadm.SessionTokenParam) == "" {
		t.Fatalf("no session token in %q (SyncHdr %s)", m.Header.RespURI, m.Commands[0].Data)
	}
	return u.Query().Get(omadm.SessionTokenParam)
}

// commandState reads one command's state through the admin API.
func commandState(t *testing.T, s *server, id string) string {
	t.Helper()
	r := s.admin(http.MethodGet, "/mdm/devices/"+deviceA+"/commands/"+id, "")
	var c struct{ State string }
	if err := json.Unmarshal(r.body, &c); err != nil {
		t.Fatalf("command %s: %v %s", id, err, r.body)
	}
	return c.State
}

// TestSessionTokenStaysOutOfLogsAndTraces: the token of a live digest
// session, carried in the RespURI of every reply (and echoed by a device
// in its Target LocURI), never reaches the debug log, the device trace
// (admin API, CLI) or the device's page in the API: anyone reading them
// could otherwise act as the device until the session ends.
func TestSessionTokenStaysOutOfLogsAndTraces(t *testing.T) {
	s := startCaddyFile(t, debugQuickstart(t))
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	r := s.admin(http.MethodPost, "/mdm/devices/"+deviceA+"/commands",
		`{"verb":"Replace","items":[{"target":"./Vendor/MSFT/Test/Token","data":"x"}]}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("enqueue: %d %s", r.StatusCode, r.body)
	}
	srv := appAuth(a.doc, "APPSRV")
	nonce, _ := base64.StdEncoding.DecodeString(srv.Value("AAUTHDATA"))
	cred := `<Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data>` +
		omadm.Digest(srv.Value("AAUTHNAME"), srv.Value("AAUTHSECRET"), nonce) + `</Data></Cred>`
	_, m := s.manage(s.client, msg1Session(t, cred, "1"))
	token := mustToken(t, m)
	respURI, _ := url.Parse(m.Header.RespURI)
	// The device goes on at the RespURI and names it as its Target.
	next := fmt.Sprintf(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID>`+
		`<Target><LocURI>%s</LocURI></Target><Source><LocURI>%s</LocURI></Source></SyncHdr><SyncBody>`+
		`<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status></SyncBody></SyncML>`,
		strings.ReplaceAll(m.Header.RespURI, "&", "&amp;"), deviceA)
	r = s.do(s.client, http.MethodPost, respURI.RequestURI(), syncmlMedia, []byte(next))
	if m, err := syncml.Parse(r.body); err != nil || m.Commands[0].Data != "200" || mustToken(t, m) != token {
		t.Fatalf("the session at its RespURI: %d %s", r.StatusCode, clipped(r.body))
	}

	noToken := func(where, text string) {
		t.Helper()
		if strings.Contains(text, token) {
			t.Errorf("the live session token is in %s", where)
		}
	}
	r = s.admin(http.MethodGet, "/mdm/devices/"+deviceA+"/trace", "")
	if r.StatusCode != http.StatusOK || !bytes.Contains(r.body, []byte(omadm.SessionTokenParam+"=REDACTED")) {
		t.Errorf("trace API (RespURI shown redacted): %d %s", r.StatusCode, clipped(r.body))
	}
	noToken("the trace API", string(r.body))
	out, err := s.cli("trace", deviceA)
	if err != nil {
		t.Errorf("caddy mdm trace: %v", err)
	}
	noToken("caddy mdm trace", out)
	r = s.admin(http.MethodGet, "/mdm/devices/"+deviceA, "")
	noToken("the device API", string(r.body))

	s.stop()
	logs := s.logs.String()
	if !strings.Contains(logs, `"msg":"response"`) || !strings.Contains(logs, "RespURI") {
		t.Error("the debug log holds no reply: the test proves nothing")
	}
	noToken("the debug log", logs)
}
