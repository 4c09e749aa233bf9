package trace

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

func TestSOAPRedactsPasswordsAndTokens(t *testing.T) {
	out := SOAP(capture.Read(t, "a-enroll-request.xml"))
	if strings.Contains(out, ">demo<") || !strings.Contains(out, "PasswordText\">REDACTED</wsse:Password>") {
		t.Error("password not redacted")
	}
	if !strings.Contains(out, "MIICzjCCAboCAQAw") {
		t.Error("the CSR (no secret) was removed")
	}
	fed := `<wsse:BinarySecurityToken ValueType="http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentUserToken" EncodingType="x">c2VjcmV0LXRva2Vu</wsse:BinarySecurityToken>`
	if out := SOAP([]byte(fed)); strings.Contains(out, "c2VjcmV0LXRva2Vu") {
		t.Error("federated token not redacted")
	}
}

func TestSOAPDecodesProvisioningDocument(t *testing.T) {
	doc := `<wap-provisioningdoc version="1.1"><characteristic type="APPAUTH"><parm name="AAUTHSECRET" value="s3cr3t"/><parm name="AAUTHDATA" value="bm9uY2U="/></characteristic></wap-provisioningdoc>`
	resp := `<BinarySecurityToken ValueType="http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentProvisionDoc" EncodingType="x">` +
		base64.StdEncoding.EncodeToString([]byte(doc)) + `</BinarySecurityToken>`
	out := SOAP([]byte(resp))
	if strings.Contains(out, "s3cr3t") || !strings.Contains(out, `name="AAUTHSECRET" value="REDACTED"`) || !strings.Contains(out, `name="AAUTHDATA" value="bm9uY2U="`) {
		t.Errorf("provisioning document not decoded and redacted: %s", out)
	}
}

func TestSyncMLRedactsCred(t *testing.T) {
	m := `<SyncHdr><Cred><Meta><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data>ZGlnZXN0</Data></Cred></SyncHdr><SyncBody><Item><Data>keep</Data></Item></SyncBody>`
	out := SyncML([]byte(m))
	if strings.Contains(out, "ZGlnZXN0") || !strings.Contains(out, "<Data>keep</Data>") {
		t.Errorf("cred redaction wrong: %s", out)
	}
}
