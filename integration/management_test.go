package integration

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

const (
	deviceA     = "1E08C6E95D8BB843B1278FF45BC60CC6"
	deviceB     = "B5B954E81FBCB94EB79BD08BE625F4EE"
	managePath  = "/ManagementServer/MDM.svc?mode=Maintenance&Platform=WoA"
	syncmlMedia = "application/vnd.syncml.dm+xml"
)

// enrolledDevice is a device that enrolled with a key it holds, as Windows
// does: the captured request with a CSR of a fresh key.
type enrolledDevice struct {
	id   string
	cert tls.Certificate
	doc  *provdoc.Node
}

func enrollDevice(t *testing.T, s *server, file, id string) *enrolledDevice {
	t.Helper()
	key := testpki.NewKey(t, "rsa")
	csr := testpki.NewCSR(t, key, "ignored")
	req := asQuickstartUser(t, file)
	req = bytes.Replace(req, []byte(base64.StdEncoding.EncodeToString(capture.CSR(t, file))), []byte(base64.StdEncoding.EncodeToString(csr)), 1)
	if id == deviceB {
		// The captured devices are clones of one VM and share a HWDevID;
		// enrolling B as is would retire A as the same hardware re-enrolling.
		req = bytes.Replace(req, []byte("3B3ED6D0EA88CBFCF37D36F90F22FE61172348C0162FC3840D6703149870CE76"), []byte("B0000000000000000000000000000000000000000000000000000000000000B0"), 1)
	}
	r := s.postSOAP("/EnrollmentServer/Enrollment.svc", req)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("enroll %s: %d %s", id, r.StatusCode, r.body)
	}
	doc, cert := enrollmentResult(t, r.body)
	return &enrolledDevice{id: id, doc: doc, cert: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}
}

// session returns a captured SyncML message with another SessionID.
func sessionMsg(t *testing.T, file, sessionID string) []byte {
	t.Helper()
	return bytes.Replace(capture.Read(t, file), []byte("<SessionID>1</SessionID>"), []byte("<SessionID>"+sessionID+"</SessionID>"), 1)
}

func (s *server) manage(c *http.Client, body []byte) (response, *syncml.Message) {
	s.t.Helper()
	r := s.do(c, http.MethodPost, managePath, syncmlMedia, body)
	if r.StatusCode != http.StatusOK {
		s.t.Fatalf("management: %d %s", r.StatusCode, r.body)
	}
	if r.Header.Get("Content-Type") != syncmlMedia || r.ContentLength != int64(len(r.body)) || r.Header.Get("Content-Encoding") != "" {
		s.t.Errorf("management framing: %q, Content-Length %d for %d bytes", r.Header.Get("Content-Type"), r.ContentLength, len(r.body))
	}
	m, err := syncml.Parse(r.body)
	if err != nil {
		s.t.Fatalf("reply: %v\n%s", err, r.body)
	}
	return r, m
}

func TestManagementEndToEnd(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	dev := s.deviceClient(a.cert)

	// Session 1, as captured: inventory and nothing to do.
	_, m := s.manage(dev, capture.Read(t, "a-syncml-session1-msg1.xml"))
	if st := m.Commands[0]; st.Cmd != "SyncHdr" || st.Data != "200" || !m.Final || len(m.Commands) != 4 {
		t.Fatalf("session 1: %+v", m.Commands)
	}
	if m.Header.Source != s.url("/ManagementServer/MDM.svc") || m.Header.Target != deviceA {
		t.Errorf("reply header %+v", m.Header)
	}

	// The admin queues a Get (API) and a Replace (CLI).
	r := s.admin(http.MethodPost, "/mdm/devices/"+deviceA+"/commands", `{"verb":"Get","items":[{"target":"./DevDetail/SwV"}]}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("enqueue: %d %s", r.StatusCode, r.body)
	}
	out, err := s.cli("send", deviceA, "--replace", "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera=0", "--format", "int")
	if err != nil || !strings.Contains(out, "queued") {
		t.Fatalf("caddy mdm send: %v\n%s", err, out)
	}

	// Session 2 delivers them after the device's package 1.
	_, m = s.manage(dev, sessionMsg(t, "a-syncml-session1-msg1.xml", "2"))
	var get, rep *syncml.Command
	for _, c := range m.Commands {
		switch c.Name {
		case "Get":
			get = c
		case "Replace":
			rep = c
		}
	}
	if get == nil || rep == nil || get.CmdID != "5" || rep.CmdID != "6" || rep.Items[0].Data != "0" || rep.Items[0].Meta.Format != "int" {
		t.Fatalf("session 2 commands: %+v", m.Commands)
	}
	answer := fmt.Sprintf(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>2</SessionID><MsgID>2</MsgID>`+
		`<Target><LocURI>%s</LocURI></Target><Source><LocURI>%s</LocURI></Source></SyncHdr><SyncBody>`+
		`<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>`+
		`<Status><CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>5</CmdRef><Cmd>Get</Cmd><Data>200</Data></Status>`+
		`<Status><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>6</CmdRef><Cmd>Replace</Cmd><Data>200</Data></Status>`+
		`<Results><CmdID>4</CmdID><MsgRef>1</MsgRef><CmdRef>5</CmdRef><Item><Source><LocURI>./DevDetail/SwV</LocURI></Source><Data>10.0.19043.2364</Data></Item></Results>`+
		`<Final/></SyncBody></SyncML>`, s.url("/ManagementServer/MDM.svc"), deviceA)
	_, m = s.manage(dev, []byte(answer))
	if len(m.Commands) != 1 || !m.Final {
		t.Errorf("end of session 2: %+v", m.Commands)
	}

	// Status and results through the admin API...
	r = s.admin(http.MethodGet, "/mdm/devices/"+deviceA+"/commands", "")
	var list struct {
		Commands []struct {
			State   string `json:"state"`
			Status  int    `json:"status"`
			Results []struct {
				Source, Data string
			} `json:"results"`
		} `json:"commands"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Commands) != 2 {
		t.Fatalf("commands: %v %s", err, r.body)
	}
	for _, c := range list.Commands {
		if c.State != "acknowledged" || c.Status != 200 {
			t.Errorf("command %+v", c)
		}
	}
	if res := list.Commands[0].Results; len(res) != 1 || res[0].Data != "10.0.19043.2364" || res[0].Source != "./DevDetail/SwV" {
		t.Errorf("Get results %+v", res)
	}
	// ...and the CLI.
	if out, err := s.cli("commands", deviceA); err != nil || !strings.Contains(out, "10.0.19043.2364") || strings.Count(out, "acknowledged") != 2 {
		t.Errorf("caddy mdm commands: %v\n%s", err, out)
	}
	if out, err := s.cli("devices"); err != nil || !strings.Contains(out, deviceA) || !strings.Contains(out, "enrolled") {
		t.Errorf("caddy mdm devices: %v\n%s", err, out)
	}
	if out, err := s.cli("show", deviceA); err != nil || !strings.Contains(out, "VMware, Inc.") || !strings.Contains(out, "Last seen") {
		t.Errorf("caddy mdm show: %v\n%s", err, out)
	}
	// The quickstart keeps a trace of every exchange, secrets redacted (P16).
	out, err = s.cli("trace", deviceA)
	secret := appAuth(a.doc, "APPSRV").Value("AAUTHSECRET")
	if err != nil || strings.Count(out, "=== ") != 4 || !strings.Contains(out, "10.0.19043.2364") ||
		!strings.Contains(out, `name="AAUTHSECRET" value="REDACTED"`) || strings.Contains(out, secret) || strings.Contains(out, quickstartPassword) {
		t.Errorf("caddy mdm trace (want 1 enrollment + 3 management exchanges, redacted): %v\n%s", err, out)
	}
	r = s.admin(http.MethodGet, "/mdm/devices/"+deviceA, "")
	if !bytes.Contains(r.body, []byte(`"REDACTED"`)) || bytes.Contains(r.body, []byte(appAuth(a.doc, "APPSRV").Value("AAUTHSECRET"))) {
		t.Error("admin API shows device secrets")
	}
}

func appAuth(doc *provdoc.Node, level string) *provdoc.Node {
	for _, a := range doc.Child("APPLICATION").ChildrenOf("APPAUTH") {
		if a.Value("AAUTHLEVEL") == level {
			return a
		}
	}
	return nil
}

// TestManagementAuthentication: no certificate → digest challenge; the
// APPSRV credentials of the provisioning document → 212; another device's
// certificate → 403.
func TestManagementAuthentication(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	b := enrollDevice(t, s, "b-enroll-request.xml", deviceB)

	_, m := s.manage(s.client, capture.Read(t, "a-syncml-session1-msg1.xml"))
	if st := m.Commands[0]; st.Data != "407" || st.Chal == nil || st.Chal.NextNonce == "" {
		t.Fatalf("no certificate, no credentials: %+v", st)
	}
	nonce, _ := base64.StdEncoding.DecodeString(m.Commands[0].Chal.NextNonce)
	srv := appAuth(a.doc, "APPSRV")
	cred := `<Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data>` +
		omadm.Digest(srv.Value("AAUTHNAME"), srv.Value("AAUTHSECRET"), nonce) + `</Data></Cred>`
	withCred := bytes.Replace(capture.Read(t, "a-syncml-session1-msg1.xml"), []byte("</SyncHdr>"), []byte(cred+"</SyncHdr>"), 1)
	_, m = s.manage(s.client, withCred)
	if st := m.Commands[0]; st.Data != "212" {
		t.Errorf("digest from the provisioning document: %+v", st)
	}

	_, m = s.manage(s.deviceClient(b.cert), capture.Read(t, "a-syncml-session1-msg1.xml"))
	if st := m.Commands[0]; st.Data != "403" {
		t.Errorf("device B's certificate for device A: %+v", st)
	}
	if !s.logs.waitFor("was not issued to device " + deviceA) {
		t.Error("certificate mismatch not logged")
	}

	// A certificate from another CA does not pass the TLS handshake.
	stranger := testpki.NewCA(t, "rsa")
	key := testpki.NewKey(t, "rsa")
	tmpl := *a.cert.Leaf
	tmpl.SignatureAlgorithm = x509.UnknownSignatureAlgorithm
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, stranger.Root, key.Public(), stranger.Key)
	if err != nil {
		t.Fatal(err)
	}
	foreign := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	c := s.newClient(s.roots, true)
	// Present it even though the server's CertificateRequest names only the
	// device CA (Go's client would otherwise send no certificate at all).
	c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &foreign, nil
	}
	resp, err := c.Post(s.url(managePath), syncmlMedia, bytes.NewReader(capture.Read(t, "a-syncml-session1-msg1.xml")))
	if err == nil {
		resp.Body.Close()
		t.Errorf("a certificate of another CA passed the TLS handshake: HTTP %d", resp.StatusCode)
	}
}

func TestManagementBadInput(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	dev := s.deviceClient(a.cert)
	good := capture.Read(t, "a-syncml-session1-msg1.xml")
	hdrEnd := bytes.Index(good, []byte("</SyncHdr>")) + len("</SyncHdr>")
	for _, tc := range []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		// syncmlStatus, when set, is the SyncHdr status of a SyncML answer:
		// a message whose SyncHdr can be read is answered in SyncML.
		syncmlStatus string
	}{
		{"GET", http.MethodGet, managePath, "", nil, 405, ""},
		{"wrong content type", http.MethodPost, managePath, "text/xml", good, 415, ""},
		{"unknown query", http.MethodPost, managePath + "&debug=1", syncmlMedia, good, 400, ""},
		{"malformed XML", http.MethodPost, managePath, syncmlMedia, append(good[:hdrEnd-40:hdrEnd-40], "<<ECHO-ME>>"...), 400, ""},
		{"cut after the SyncHdr", http.MethodPost, managePath, syncmlMedia, append(good[:hdrEnd:hdrEnd], "<SyncBody><Alert><<ECHO-ME>>"...), 200, "400"},
		{"wrong namespace", http.MethodPost, managePath, syncmlMedia, bytes.Replace(good, []byte("SYNCML:SYNCML1.2"), []byte("syncml:other"), 1), 200, "400"},
		{"over the limit", http.MethodPost, managePath, syncmlMedia, append(bytes.Repeat([]byte(" "), 2<<20), good...), 413, ""},
		{"too many elements", http.MethodPost, managePath, syncmlMedia, bytes.Replace(good, []byte("<Final/>"), bytes.Repeat([]byte("<Final/>"), 60000), 1), 413, ""},
	} {
		r := s.do(dev, tc.method, tc.path, tc.ctype, tc.body)
		if r.StatusCode != tc.status || len(r.body) == 0 {
			t.Errorf("%s: %d %q, want %d with a reason", tc.name, r.StatusCode, clipped(r.body), tc.status)
		}
		if bytes.Contains(r.body, []byte("ECHO-ME")) {
			t.Errorf("%s: the answer echoes the input: %q", tc.name, clipped(r.body))
		}
		if tc.syncmlStatus != "" {
			m, err := syncml.Parse(r.body)
			if err != nil || len(m.Commands) != 1 || m.Commands[0].Cmd != "SyncHdr" || m.Commands[0].Data != tc.syncmlStatus {
				t.Errorf("%s: want a SyncML answer with SyncHdr status %s, got %q", tc.name, tc.syncmlStatus, clipped(r.body))
			}
		}
	}

	// Admin API errors are JSON with the right status.
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{http.MethodGet, "/mdm/devices/0000000000000000000000000000FFFF", "", 404},
		{http.MethodPost, "/mdm/devices/" + deviceA + "/commands", `{"verb":"Get"`, 400},
		{http.MethodPost, "/mdm/devices/" + deviceA + "/commands", `{"verb":"Copy","items":[{"target":"./A"}]}`, 400},
		{http.MethodPost, "/mdm/devices/" + deviceA + "/commands", `{"verb":"Get","items":[{"target":"./A"}],"colour":1}`, 400},
		{http.MethodDelete, "/mdm/devices/" + deviceA + "/commands/0000000000000deadbeef", "", 404},
		{http.MethodGet, "/mdm/devices?limit=0", "", 400},
		{http.MethodPut, "/mdm/devices", "", 405},
		// One JSON object and nothing after it, everywhere.
		{http.MethodPost, "/mdm/devices/" + deviceA + "/commands", `{"verb":"Get","items":[{"target":"./A"}]} {"verb":"Exec"}`, 400},
		{http.MethodPost, "/mdm/devices/" + deviceA + "/retire", `{"reason":"stolen"} trailing`, 400},
		{http.MethodPost, "/mdm/devices/" + deviceA + "/retire", `{"reason":"stolen","force":true}`, 400},
		{http.MethodPost, "/mdm/devices/" + deviceA + "/retire", `{"reason":"` + strings.Repeat("r", 501) + `"}`, 400},
	} {
		r := s.admin(tc.method, tc.path, tc.body)
		var e struct{ Error string }
		if r.StatusCode != tc.status || json.Unmarshal(r.body, &e) != nil || e.Error == "" {
			t.Errorf("%s %s: %d %s, want %d with a JSON error", tc.method, tc.path, r.StatusCode, r.body, tc.status)
		}
	}
	if r := s.admin(http.MethodGet, "/mdm/devices/"+deviceA, ""); !bytes.Contains(r.body, []byte(`"state":"enrolled"`)) {
		t.Errorf("a refused retire changed the device: %s", clipped(r.body))
	}
	if out, err := s.cli("send", deviceA, "--get", "DevDetail/SwV"); err == nil || !strings.Contains(out, "must start with ./") {
		t.Errorf("CLI with a bad command: %v\n%s", err, out)
	}
}

// clipped shortens a body for an error message.
func clipped(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}
