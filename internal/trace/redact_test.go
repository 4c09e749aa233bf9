package trace

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

const (
	wsseNS   = `http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd`
	userTok  = `http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentUserToken`
	provType = `http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentProvisionDoc`
	pkcs10   = `http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10`
)

// envelope wraps a security header in a SOAP envelope with a body that
// holds nothing secret, which must stay readable.
func envelope(security string) string {
	return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsse="` + wsseNS + `"><s:Header>` +
		`<wsse:Security><wsse:UsernameToken><wsse:Username>user@contoso.com</wsse:Username>` + security +
		`</wsse:UsernameToken></wsse:Security></s:Header><s:Body><Keep>visible-value</Keep></s:Body></s:Envelope>`
}

// TestSOAPBypasses covers each way the regular expressions of the first
// version let a secret through.
func TestSOAPBypasses(t *testing.T) {
	for _, tc := range []struct {
		name, body, secret string
	}{
		{"CDATA password", envelope(`<wsse:Password><![CDATA[hunter2-cdata]]></wsse:Password>`), "hunter2-cdata"},
		{"CDATA after text", envelope(`<wsse:Password>x<![CDATA[hunter2-mixed]]></wsse:Password>`), "hunter2-mixed"},
		{"prefix with dots", envelope(`<a.b:Password xmlns:a.b="` + wsseNS + `">hunter2-dots</a.b:Password>`), "hunter2-dots"},
		{"non-ASCII prefix", envelope(`<é:Password xmlns:é="` + wsseNS + `">hunter2-accent</é:Password>`), "hunter2-accent"},
		{"no prefix, other case", envelope(`<password xmlns="` + wsseNS + `">hunter2-lower</password>`), "hunter2-lower"},
		{"element inside the password", envelope(`<wsse:Password>a<x/>hunter2-nested</wsse:Password>`), "hunter2-nested"},
		{"character reference", envelope(`<wsse:Password>&#104;unter2-charref</wsse:Password>`), "unter2-charref"},
		{"> in an earlier attribute", envelope(`<wsse:Password wsse:Type="a>b#PasswordText">hunter2-gt</wsse:Password>`), "hunter2-gt"},
		{"single-quoted UserToken ValueType", envelope(`<wsse:BinarySecurityToken ValueType='` + userTok + `' EncodingType='x'>c2VjcmV0LXNpbmdsZQ==</wsse:BinarySecurityToken>`), "c2VjcmV0LXNpbmdsZQ=="},
		{"> before the ValueType", envelope(`<wsse:BinarySecurityToken EncodingType="a>b" ValueType="` + userTok + `">c2VjcmV0LWd0</wsse:BinarySecurityToken>`), "c2VjcmV0LWd0"},
		{"jwt token", envelope(`<wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt">eyJhbGciOiJub25lIn0.jwt-secret</wsse:BinarySecurityToken>`), "jwt-secret"},
		{"unknown token type", envelope(`<wsse:BinarySecurityToken ValueType="urn:contoso:whatever">opaque-secret</wsse:BinarySecurityToken>`), "opaque-secret"},
		{"token without ValueType", envelope(`<BinarySecurityToken>untyped-secret</BinarySecurityToken>`), "untyped-secret"},
		{"two ValueTypes that disagree", envelope(`<wsse:BinarySecurityToken xmlns:x="urn:x" ValueType="` + pkcs10 + `" x:ValueType="` + userTok + `">two-types-secret</wsse:BinarySecurityToken>`), "two-types-secret"},
		{"password attribute", envelope(`<Login Password='attr-secret'/>`), "attr-secret"},
		{"truncated in the password", cutAfter(envelope(`<wsse:Password>hunter2-trunc</wsse:Password>`), "hunter2-trunc"), "hunter2-trunc"},
		{"truncated after the password", strings.TrimSuffix(envelope(`<wsse:Password>hunter2-cut</wsse:Password>`), "</s:Envelope>"), "hunter2-cut"},
		{"text beside the root", envelope(`<wsse:Password>x</wsse:Password>`) + `hunter2-trailing`, "hunter2-trailing"},
		{"second root", envelope(``) + `<wsse:Password xmlns:wsse="x">hunter2-second</wsse:Password>`, "hunter2-second"},
		{"undefined entity", envelope(`<wsse:Password>&pw;hunter2-entity</wsse:Password>`), "hunter2-entity"},
		{"mismatched end tag", `<Envelope><Password>hunter2-mismatch</Pass></Envelope>`, "hunter2-mismatch"},
		{"not XML", `password=hunter2-plain`, "hunter2-plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.body, tc.secret) {
				t.Fatal("test body lacks its secret")
			}
			out := SOAP([]byte(tc.body))
			if strings.Contains(out, tc.secret) {
				t.Errorf("secret in the output: %s", out)
			}
			if strings.Contains(out, "\n") {
				t.Errorf("output spans lines: %q", out)
			}
		})
	}
}

func TestUnparsableBodiesAreSummarized(t *testing.T) {
	full := envelope(`<wsse:Password>hunter2</wsse:Password>`)
	for _, body := range []string{full[:len(full)-5], "<a><b></a>", "just text", "<!-- only a comment -->"} {
		out := SOAP([]byte(body))
		if !strings.HasPrefix(out, "[unparsable body: "+strconv.Itoa(len(body))+" bytes, sha256 ") || strings.Contains(out, "hunter2") {
			t.Errorf("%q → %q", body, out)
		}
		if out != SyncML([]byte(body), "1") || string(ProvisioningDocument([]byte(body))) != out {
			t.Errorf("SOAP, SyncML and ProvisioningDocument summarize %q differently", body)
		}
	}
	if out := SyncML(nil); out != "[empty body]" {
		t.Errorf("empty body: %q", out)
	}
	if out := SOAP([]byte(strings.Repeat("<a>", 200) + "x" + strings.Repeat("</a>", 200))); !strings.HasPrefix(out, "[unparsable body: ") {
		t.Errorf("a body beyond the parse limits was parsed: %.80s", out)
	}
}

func cutAfter(s, sub string) string {
	return s[:strings.Index(s, sub)+len(sub)]
}

func TestSOAPKeepsWhatIsNotSecret(t *testing.T) {
	csr := "MIICzjCCAboCAQAwSzFJ"
	body := envelope(`<wsse:Password wsse:Type="x#PasswordText">hunter2</wsse:Password>`)
	body = strings.Replace(body, `<Keep>`, `<wsse:BinarySecurityToken ValueType='`+pkcs10+`'>`+csr+`</wsse:BinarySecurityToken><Keep>`, 1)
	out := SOAP([]byte(body))
	for _, want := range []string{csr, "visible-value", "user@contoso.com", `wsse:Type="x#PasswordText">REDACTED</wsse:Password>`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in %s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("password kept: %s", out)
	}
	if out := SOAP([]byte(`<Data><![CDATA[<keep>cdata</keep>]]></Data>`)); out != `<Data><![CDATA[<keep>cdata</keep>]]></Data>` {
		t.Errorf("CDATA not kept as CDATA: %s", out)
	}
}

const provDoc = `<wap-provisioningdoc version="1.1"><characteristic type="APPLICATION">` +
	`<parm name="AAUTHLEVEL" value="CLIENT"/>` +
	`<parm name='AAUTHSECRET' value='s3cr3t-single'/>` +
	`<parm name="aauthsecret" value="s3cr3t-lower"/>` +
	`<parm value="s3cr3t-first" name="AAUTHSECRET"/>` +
	`<parm name="AAUTHDATA" value="bm9uY2U="/>` +
	`<parm name="EnrollmentToken" value="hub-token-secret"/>` +
	`<parm name="ProxyPassword" value="proxy-secret"/>` +
	`<parm name="ClientSecretValue" value="client-secret"/>` +
	`</characteristic></wap-provisioningdoc>`

var provSecrets = []string{"s3cr3t-single", "s3cr3t-lower", "s3cr3t-first", "hub-token-secret", "proxy-secret", "client-secret"}

func TestProvisioningDocument(t *testing.T) {
	check := func(what, out string) {
		t.Helper()
		for _, s := range provSecrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: %s kept: %s", what, s, out)
			}
		}
		for _, want := range []string{`name="AAUTHSECRET" value="REDACTED"`, `name="AAUTHDATA" value="bm9uY2U="`, `name="AAUTHLEVEL" value="CLIENT"`} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %s in %s", what, want, out)
			}
		}
	}
	check("document", string(ProvisioningDocument([]byte(provDoc))))

	// In an enrollment response the document is decoded inline.
	resp := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><RequestedSecurityToken>` +
		`<BinarySecurityToken ValueType='` + provType + `' EncodingType="x">` +
		base64.StdEncoding.EncodeToString([]byte(provDoc)) + `</BinarySecurityToken></RequestedSecurityToken></s:Body></s:Envelope>`
	out := SOAP([]byte(resp))
	check("response", out)
	if !strings.Contains(out, `<!-- decoded --><wap-provisioningdoc version="1.1">`) {
		t.Errorf("document not decoded inline: %s", out)
	}
	// A provisioning document token that is not base64 of XML is not shown.
	bad := base64.StdEncoding.EncodeToString([]byte(`<wap-provisioningdoc><parm name="AAUTHSECRET" value="trunc-secret"`))
	out = SOAP([]byte(`<BinarySecurityToken ValueType="` + provType + `">` + bad + `</BinarySecurityToken>`))
	if strings.Contains(out, bad) || strings.Contains(out, "trunc-secret") || !strings.Contains(out, Redacted) {
		t.Errorf("undecodable document: %s", out)
	}
}

const syncHdr = `<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID>` +
	`<Target><LocURI>https://mdm.contoso.com/ManagementServer/MDM.svc</LocURI></Target><Source><LocURI>1E08C6E95D8BB843B1278FF45BC60CC6</LocURI></Source>`

func TestSyncMLCred(t *testing.T) {
	for _, cred := range []string{
		`<Cred xmlns="SYNCML:SYNCML1.2"><Meta><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data>ZGlnZXN0LXNlY3JldA==</Data></Cred>`,
		`<Cred><Meta><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data><![CDATA[ZGlnZXN0LXNlY3JldA==]]></Data></Cred>`,
		`<s:Cred xmlns:s="SYNCML:SYNCML1.2" a="x>y"><s:Data>ZGlnZXN0LXNlY3JldA==</s:Data></s:Cred>`,
	} {
		m := `<SyncML xmlns="SYNCML:SYNCML1.2">` + syncHdr + cred + `</SyncHdr><SyncBody>` +
			`<Replace><CmdID>2</CmdID><Item><Source><LocURI>./DevInfo/Lang</LocURI></Source><Data>en-US</Data></Item></Replace><Final/></SyncBody></SyncML>`
		out := SyncML([]byte(m))
		if strings.Contains(out, "ZGlnZXN0LXNlY3JldA==") || !strings.Contains(out, "<Data>en-US</Data>") || !strings.Contains(out, "1E08C6E95D8BB843B1278FF45BC60CC6") {
			t.Errorf("cred redaction wrong: %s", out)
		}
	}
}

func TestSyncMLSensitiveCommands(t *testing.T) {
	m := `<SyncML xmlns="SYNCML:SYNCML1.2">` + syncHdr + `</SyncHdr><SyncBody>` +
		`<Status><CmdID>1</CmdID><MsgRef>2</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>` +
		`<Replace><CmdID>2</CmdID><Item><Target><LocURI>./Vendor/MSFT/Custom/A</LocURI></Target><Data>flagged-secret</Data></Item></Replace>` +
		`<Atomic><CmdID>3</CmdID><Replace><CmdID>4</CmdID><Item><Target><LocURI>./Vendor/MSFT/Custom/B</LocURI></Target><Data><![CDATA[nested-secret]]></Data></Item></Replace>` +
		`<Sequence><CmdID>5</CmdID><Add><CmdID>6</CmdID><Item><Target><LocURI>./Vendor/MSFT/Custom/C</LocURI></Target><Data><x>deep-secret</x></Data></Item></Add></Sequence></Atomic>` +
		`<Replace><CmdID>7</CmdID><Item><Target><LocURI>./Vendor/MSFT/Policy/Config/Camera/AllowCamera</LocURI></Target><Data>0-visible</Data></Item></Replace>` +
		`<Replace><CmdID>8</CmdID><Item><Target><LocURI>./Vendor/MSFT/WiFi/Profile/Corp/WlanXml</LocURI></Target><Data>&lt;keyMaterial&gt;wifi-secret&lt;/keyMaterial&gt;</Data></Item></Replace>` +
		`<Add><CmdID>9</CmdID><Item><Target><LocURI>./User/Vendor/MSFT/VPNv2/Corp/ProfileXML</LocURI></Target><Data>vpn-psk-secret</Data></Item>` +
		`<Item><Target><LocURI>./Vendor/MSFT/ClientCertificateInstall/PFXCertInstall/K/pfxcertpassword</LocURI></Target><Data>pfx-secret</Data></Item></Add>` +
		`<Results><CmdID>10</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Item><Source><LocURI>./Vendor/MSFT/Custom/R</LocURI></Source><Data>result-secret</Data></Item></Results>` +
		`<Results><CmdID>11</CmdID><MsgRef>1</MsgRef><CmdRef>5</CmdRef><Item><Source><LocURI>./Device/Vendor/MSFT/WiFi/Profile/Corp/WLANXML</LocURI></Source><Data>wifi-result-secret</Data></Item></Results>` +
		`<Results><CmdID>12</CmdID><MsgRef>1</MsgRef><CmdRef>6</CmdRef><Item><Source><LocURI>./DevDetail/SwV</LocURI></Source><Data>10.0.19043-visible</Data></Item></Results>` +
		`<Final/></SyncBody></SyncML>`
	out := SyncML([]byte(m), "2", "3", "10")
	for _, s := range []string{"flagged-secret", "nested-secret", "deep-secret", "wifi-secret", "vpn-psk-secret", "pfx-secret", "result-secret", "wifi-result-secret"} {
		if strings.Contains(out, s) {
			t.Errorf("%s kept", s)
		}
	}
	for _, s := range []string{"0-visible", "10.0.19043-visible", "./Vendor/MSFT/Custom/B", "./Vendor/MSFT/WiFi/Profile/Corp/WlanXml", "1E08C6E95D8BB843B1278FF45BC60CC6", "<Data>200</Data>"} {
		if !strings.Contains(out, s) {
			t.Errorf("%s lost", s)
		}
	}
	// Without the sensitive CmdIDs only the built-in secret nodes go.
	out = SyncML([]byte(m))
	if !strings.Contains(out, "flagged-secret") || strings.Contains(out, "wifi-secret") || strings.Contains(out, "vpn-psk-secret") {
		t.Errorf("built-in secret nodes: %s", out)
	}
}

func TestSecretURI(t *testing.T) {
	for uri, want := range map[string]bool{
		"./Vendor/MSFT/WiFi/Profile/Corp/WlanXml":                                 true,
		"./Device/Vendor/MSFT/WiFi/Profile/Corp/wlanxml":                          true,
		"./Vendor/MSFT/VPNv2/Corp/ProfileXML":                                     true,
		"./User/Vendor/MSFT/VPNv2/Corp%20VPN/ProfileXML":                          true,
		"./Vendor/MSFT/VPNv2/Corp/NativeProfile/Servers":                          false,
		"./Vendor/MSFT/ClientCertificateInstall/PFXCertInstall/K/PFXCertBlob":     true,
		"./Vendor/MSFT/ClientCertificateInstall/PFXCertInstall/K/PFXCertPassword": true,
		"./Vendor/MSFT/X/PreSharedKey":                                            true,
		"./Vendor/MSFT/X/SharedSecret?list=Struct":                                true,
		"./Vendor/MSFT/DMClient/Provider/P/AAuthSecret":                           true,
		"./Vendor/MSFT/X/EnrollmentToken":                                         true,
		"./Vendor/MSFT/X/KeyMaterial":                                             true,
		"./Vendor/MSFT/X/ClientSecret":                                            true,
		"./Vendor/MSFT/X/%57lanXml":                                               true,
		"./DevDetail/SwV":                                                         false,
		"./Vendor/MSFT/Policy/Config/Camera/AllowCamera":                          false,
		"": false,
	} {
		if SecretURI(uri) != want {
			t.Errorf("SecretURI(%q) = %v", uri, !want)
		}
	}
}

func TestCommandRedaction(t *testing.T) {
	c := &store.Command{ID: "c1", Spec: store.CommandSpec{Verb: "Sequence", Commands: []store.CommandSpec{
		{Verb: "Replace", Items: []store.ItemSpec{{Target: "./Vendor/MSFT/A", Data: "open-data"}}},
		{Verb: "Replace", Sensitive: true, Items: []store.ItemSpec{{Target: "./Vendor/MSFT/B", Data: "flag-secret"}}},
		{Verb: "Add", Items: []store.ItemSpec{{Target: "./Vendor/MSFT/WiFi/Profile/x/WlanXml", Data: "wifi-secret"}}},
		{Verb: "Get", Items: []store.ItemSpec{{Target: "./Vendor/MSFT/C"}}},
	}}, Results: []store.Result{{Source: "./Vendor/MSFT/C", Data: "result-secret"}}}
	shown := Command(c)
	for _, s := range []string{"flag-secret", "wifi-secret", "result-secret"} {
		if strings.Contains(describe(shown), s) {
			t.Errorf("%s shown", s)
		}
	}
	if shown.Spec.Commands[0].Items[0].Data != "open-data" || shown.Spec.Commands[1].Items[0].Data != Redacted || shown.Results[0].Data != Redacted {
		t.Errorf("shown %+v", shown)
	}
	if c.Spec.Commands[1].Items[0].Data != "flag-secret" || c.Spec.Commands[2].Items[0].Data != "wifi-secret" || c.Results[0].Data != "result-secret" {
		t.Error("the stored command lost its data")
	}
	// Results of a command with nothing sensitive stay, but for secret nodes.
	plain := &store.Command{Spec: store.CommandSpec{Verb: "Get", Items: []store.ItemSpec{{Target: "./DevDetail/SwV"}}},
		Results: []store.Result{{Source: "./DevDetail/SwV", Data: "10.0"}, {Source: "./Vendor/MSFT/VPNv2/V/ProfileXML", Data: "psk"}}}
	if r := Command(plain).Results; r[0].Data != "10.0" || r[1].Data != Redacted {
		t.Errorf("results %+v", r)
	}
	inv := Inventory(store.Inventory{Nodes: map[string]string{"./DevInfo/Lang": "en-US", "./Vendor/MSFT/X/Password": "pw"}})
	if inv.Nodes["./DevInfo/Lang"] != "en-US" || inv.Nodes["./Vendor/MSFT/X/Password"] != Redacted {
		t.Errorf("inventory %+v", inv.Nodes)
	}
}

func describe(c *store.Command) string {
	var b strings.Builder
	var spec func(s store.CommandSpec)
	spec = func(s store.CommandSpec) {
		for _, it := range s.Items {
			b.WriteString(it.Data + " ")
		}
		for _, cc := range s.Commands {
			spec(cc)
		}
	}
	spec(c.Spec)
	for _, r := range c.Results {
		b.WriteString(r.Data + " ")
	}
	return b.String()
}

// TestCaptures: the real requests of Windows 10 keep everything readable
// but the password ("demo").
func TestCaptures(t *testing.T) {
	dir := capture.Dir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in %s: %v", dir, err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		body := capture.Read(t, name)
		var out string
		if strings.Contains(name, "syncml") {
			out = SyncML(body)
		} else {
			out = SOAP(body)
		}
		if strings.HasPrefix(out, "[") {
			t.Errorf("%s not parsed: %s", name, out)
			continue
		}
		// "demo" only in the user name (demo@mdmwindows.com).
		if strings.Count(out, "demo") != strings.Count(out, "demo@") {
			t.Errorf("%s: the password is in the output", name)
		}
		for _, want := range []string{"1E08C6E95D8BB843B1278FF45BC60CC6", "B5B954E81FBCB94EB79BD08BE625F4EE"} {
			if strings.Contains(string(body), want) && !strings.Contains(out, want) {
				t.Errorf("%s: the DeviceID %s was lost", name, want)
			}
		}
		if strings.Contains(string(body), ">demo<") && !strings.Contains(out, ">REDACTED</wsse:Password>") {
			t.Errorf("%s: no redacted password element", name)
		}
		if strings.Contains(name, "enroll-request") {
			csr := base64.StdEncoding.EncodeToString(capture.CSR(t, name))
			if !strings.Contains(strings.Join(strings.Fields(out), ""), csr) {
				t.Errorf("%s: the PKCS#10 was lost", name)
			}
			for _, want := range []string{"<wsse:Username>", "DESKTOP-28FGAI6", "10.0.19043.2364", "HWDevID"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: %s was lost", name, want)
				}
			}
		}
		if strings.Contains(name, "syncml-session1-msg1") {
			for _, want := range []string{"./DevInfo/DevId", "VMware, Inc."} {
				if strings.Contains(string(body), want) && !strings.Contains(out, want) {
					t.Errorf("%s: %s was lost", name, want)
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a-enroll-request.xml")); err != nil {
		t.Errorf("the enrollment capture is missing: %v", err)
	}
}
