package traceview

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/caddyserver/certmagic"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

const deviceA = "1E08C6E95D8BB843B1278FF45BC60CC6"

var endpoints = enroll.Endpoints{
	Discovery:  "https://enterpriseenrollment.mdmwindows.com/EnrollmentServer/Discovery.svc",
	Policy:     "https://enterpriseenrollment.mdmwindows.com/EnrollmentServer/Policy.svc",
	Enrollment: "https://enterpriseenrollment.mdmwindows.com/EnrollmentServer/Enrollment.svc",
	Management: "https://enterpriseenrollment.mdmwindows.com/ManagementServer/MDM.svc",
}

// realExchanges runs device A's captured enrollment and first OMA-DM
// message through the real services and keeps them as the recorder does
// (redacted): the exchanges a trace of that device holds.
func realExchanges(t *testing.T) (enrollment, management store.Exchange, ca *issuer.CA) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("demo"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	compare := func(h, pw []byte) (bool, error) {
		err := bcrypt.CompareHashAndPassword(h, pw)
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	}
	ca = testpki.NewCA(t, "rsa")
	st := store.New(&certmagic.FileStorage{Path: t.TempDir()})
	svc := &enroll.Service{
		ProviderID: "caddy-mdm",
		Auth:       enroll.NewPasswordAuth(map[string][]byte{"demo@mdmwindows.com": hash}, compare, hash),
		Issuer:     &issuer.Issuer{CA: ca, Validity: 365 * 24 * time.Hour},
		Store:      st,
	}
	if err := svc.Validate(); err != nil {
		t.Fatal(err)
	}
	req := capture.Read(t, "a-enroll-request.xml")
	env, err := soap.Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := svc.RequestToken(context.Background(), env, enroll.CredentialsFrom(env, nil), endpoints)
	if err != nil {
		t.Fatal(err)
	}
	enrollment = store.Exchange{At: time.Now(), Kind: "enrollment", Status: 200, Request: trace.SOAP(req), Response: trace.SOAP(resp)}

	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	srv := &omadm.Server{Store: st, ProviderID: "caddy-mdm", Roots: roots, Auth: omadm.AuthEither}
	if err := srv.Validate(); err != nil {
		t.Fatal(err)
	}
	msg := capture.Read(t, "a-syncml-session1-msg1.xml")
	reply, err := srv.Handle(context.Background(), omadm.Request{Body: msg, ServerURL: endpoints.Management})
	if err != nil {
		t.Fatal(err)
	}
	management = store.Exchange{At: time.Now(), Kind: "management", Status: 200, Request: trace.SyncML(msg), Response: trace.SyncML(reply.Body)}
	return enrollment, management, ca
}

func TestEnrollmentExchangeDecoded(t *testing.T) {
	enr, _, ca := realExchanges(t)
	ex := Build(enr.At, enr.Kind, enr.Status, enr.Request, enr.Response)

	req := ex.Request
	if req.Format != FormatSOAP || req.Title != "RequestSecurityToken (RST/wstep)" {
		t.Errorf("request format %q title %q", req.Format, req.Title)
	}
	for _, want := range []string{"User: demo@mdmwindows.com", "RequestType: Issue", "DeviceID: " + deviceA, "EnrollmentType: Full"} {
		if !contains(req.Summary, want) {
			t.Errorf("request summary lacks %q: %q", want, req.Summary)
		}
	}
	if len(req.Certificates) != 1 || req.Certificates[0].Where != "PKCS#10 request" ||
		!strings.HasSuffix(req.Certificates[0].Subject, `!`+deviceA+`\x00`) || req.Certificates[0].KeyAlgorithm != "RSA 2048" {
		t.Errorf("the CSR, decoded: %+v", req.Certificates)
	}
	// The password was redacted before the trace was kept, and stays so.
	if strings.Contains(req.XML, ">demo<") || !hasSegment(req.Segments, ClassRedacted, "REDACTED") {
		t.Error("the UsernameToken password is not shown as REDACTED")
	}

	resp := ex.Response
	if resp.Format != FormatSOAP || !strings.HasPrefix(resp.Title, "RequestSecurityTokenResponseCollection") {
		t.Errorf("response title %q", resp.Title)
	}
	var root, device *Certificate
	for i, c := range resp.Certificates {
		switch c.Where {
		case "CertificateStore/Root/System":
			root = &resp.Certificates[i]
		case "CertificateStore/My/User":
			device = &resp.Certificates[i]
		}
	}
	if root == nil || device == nil {
		t.Fatalf("certificates of the provisioning document: %+v", resp.Certificates)
	}
	if root.Thumbprint != issuer.Thumbprint(ca.Root) || !root.IsCA || root.Subject != ca.Root.Subject.String() {
		t.Errorf("root: %+v, want thumbprint %s", root, issuer.Thumbprint(ca.Root))
	}
	if device.Subject != "CN="+deviceA || device.Issuer != ca.Signer.Subject.String() || device.IsCA ||
		device.NotAfter.Sub(device.NotBefore) < 364*24*time.Hour || len(device.Thumbprint) != 40 {
		t.Errorf("device certificate: %+v", device)
	}
	for _, want := range []string{"Document APPLICATION/ADDR = " + endpoints.Management, "AAUTHSECRET = REDACTED"} {
		if !containsPart(resp.Summary, want) {
			t.Errorf("response summary lacks %q: %q", want, resp.Summary)
		}
	}
	if strings.Contains(resp.XML, "DeviceEnrollmentProvisionDoc\">PD94") {
		t.Error("the provisioning document is still base64")
	}
	checkIndentedXML(t, resp)
}

func TestManagementExchangeSummarised(t *testing.T) {
	_, mgmt, _ := realExchanges(t)
	ex := Build(mgmt.At, mgmt.Kind, mgmt.Status, mgmt.Request, mgmt.Response)
	req := ex.Request
	if req.Format != FormatSyncML || req.Title != "SyncML session 1 message 1, from "+deviceA+" to https://mdmwindows.com/ManagementServer/MDM.svc" {
		t.Errorf("title %q", req.Title)
	}
	want := []string{
		"[2] Alert 1201 client-initiated session",
		"[3] Alert 1224 client event com.microsoft/MDM/LoginStatus = user",
		"[4] Replace ./DevInfo/DevId = " + deviceA + ", ./DevInfo/Man = VMware, Inc., ./DevInfo/Mod = VMware7,1 … (5 items)",
		"Final (end of package)",
	}
	if strings.Join(req.Summary, "\n") != strings.Join(want, "\n") {
		t.Errorf("summary:\n%s\nwant:\n%s", strings.Join(req.Summary, "\n"), strings.Join(want, "\n"))
	}
	// No certificate and no digest: the server challenges (P13).
	if !containsPart(ex.Response.Summary, "Status 407 (credentials missing) for SyncHdr 1:0, challenge syncml:auth-md5") {
		t.Errorf("reply summary %q", ex.Response.Summary)
	}
	checkIndentedXML(t, req)
}

func TestUnreadableBodiesShownAsText(t *testing.T) {
	for _, body := range []string{trace.Summary([]byte("<a>")), "<SyncML><SyncHdr>\n…[cut: 99999 bytes in all]", ""} {
		m := Read(body)
		if m.Format != FormatText || m.Text != body || m.XML != "" {
			t.Errorf("%q: %+v", body, m)
		}
	}
}

func TestNestedCommandsAndStatusMeaning(t *testing.T) {
	m := Read(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><SessionID>5</SessionID><MsgID>2</MsgID></SyncHdr><SyncBody>` +
		`<Status><CmdID>1</CmdID><MsgRef>2</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>` +
		`<Atomic><CmdID>2</CmdID><Replace><CmdID>3</CmdID><Item><Target><LocURI>./Vendor/MSFT/WiFi/Profile/x/WlanXml</LocURI></Target><Data>REDACTED</Data></Item></Replace>` +
		`<Get><CmdID>4</CmdID><Item><Target><LocURI>./DevDetail/SwV</LocURI></Target></Item></Get></Atomic>` +
		`<Results><CmdID>5</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Item><Source><LocURI>./DevDetail/SwV</LocURI></Source><Data>10.0.19043.2364</Data></Item></Results>` +
		`<Final/></SyncBody></SyncML>`)
	want := []string{
		"[1] Status 200 (OK) for SyncHdr 2:0",
		"[2] Atomic of 2 commands",
		"  [3] Replace ./Vendor/MSFT/WiFi/Profile/x/WlanXml = REDACTED",
		"  [4] Get ./DevDetail/SwV",
		"[5] Results for 1:4 ./DevDetail/SwV = 10.0.19043.2364",
		"Final (end of package)",
	}
	if strings.Join(m.Summary, "\n") != strings.Join(want, "\n") {
		t.Errorf("summary:\n%s", strings.Join(m.Summary, "\n"))
	}
}

func TestRenderColoursOnlyWhenAsked(t *testing.T) {
	enr, mgmt, _ := realExchanges(t)
	exs := FromTrace(&store.Trace{Exchanges: []store.Exchange{enr, mgmt}})
	var plain, colour bytes.Buffer
	if err := Render(&plain, exs, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Render(&colour, exs, Options{Color: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(colour.String(), "\x1b[31m\x1b[1mREDACTED") {
		t.Error("colours: none without Color, REDACTED in red with it")
	}
	out := plain.String()
	for _, want := range []string{
		"=== ", " enrollment (HTTP 200)", "--> RequestSecurityToken", "<-- RequestSecurityTokenResponseCollection",
		"    certificate, CertificateStore/My/User: CN=" + deviceA, "      thumbprint (SHA-1) ",
		"    [4] Replace ./DevInfo/DevId", "\n    <SyncML xmlns=\"SYNCML:SYNCML1.2\">\n      <SyncHdr>\n        <VerDTD>1.2</VerDTD>\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered trace lacks %q", want)
		}
	}
	// Each XML line is one line: no raw body several KB long.
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 4000 {
			t.Errorf("a line of %d bytes", len(l))
		}
	}
}

// checkIndentedXML checks the indented XML is the same document, one
// element per line, and that the segments spell it.
func checkIndentedXML(t *testing.T, m Message) {
	t.Helper()
	if joinSegments(m.Segments) != m.XML {
		t.Error("segments do not spell the XML")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(m.XML); err != nil {
		t.Fatalf("indented XML does not parse: %v", err)
	}
	lines := strings.Count(m.XML, "\n")
	if elems := countElements(doc.Root()); lines < elems {
		t.Errorf("%d lines for %d elements", lines, elems)
	}
}

func countElements(e *etree.Element) int {
	n := 1
	for _, c := range e.ChildElements() {
		n += countElements(c)
	}
	return n
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func containsPart(list []string, s string) bool {
	for _, l := range list {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func hasSegment(segs []Segment, class, text string) bool {
	for _, s := range segs {
		if s.Class == class && strings.Contains(s.Text, text) {
			return true
		}
	}
	return false
}
