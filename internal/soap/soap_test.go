package soap

import (
	"errors"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

func TestParseCaptures(t *testing.T) {
	env, err := Parse(capture.Read(t, "a-enroll-request.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if env.Action != ActionRequestToken || env.MessageID != "urn:uuid:0d5a1441-5891-453b-becf-a2e5f6ea3749" ||
		env.To != "https://mdmwindows.com/EnrollmentServer/Enrollment.svc" || env.Body.Tag != "RequestSecurityToken" {
		t.Errorf("envelope %+v", env)
	}
	if env.Security.Username != "demo@mdmwindows.com" || env.Security.Password != "demo" ||
		!strings.HasSuffix(env.Security.PasswordType, "#PasswordText") {
		t.Errorf("security %+v", env.Security)
	}
	d, err := Parse(capture.Read(t, "a-discovery-request.xml"))
	if err != nil || d.Action != ActionDiscover || d.Body.Tag != "Discover" {
		t.Errorf("discovery: %v %+v", err, d)
	}
}

func TestParseRefuses(t *testing.T) {
	deep := "<s:Envelope xmlns:s='x'><s:Body>" + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + "</s:Body></s:Envelope>"
	for name, in := range map[string]string{
		"not XML":    "hello",
		"truncated":  string(capture.Read(t, "a-enroll-request.xml")[:500]),
		"other root": "<Envelop><Body><x/></Body></Envelop>",
		"no body":    "<s:Envelope xmlns:s='x'><s:Header/></s:Envelope>",
		"empty body": "<s:Envelope xmlns:s='x'><s:Body/></s:Envelope>",
		"too deep":   deep,
	} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestFaultEnvelope(t *testing.T) {
	f := NewFault(CertificateRequest, errors.New("internal detail"), "The certificate request signature does not verify.")
	b := f.Envelope("urn:uuid:1", "trace-1")
	env, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if env.Action != ActionFault || env.Body.Tag != "Fault" {
		t.Fatalf("fault envelope %s", b)
	}
	if Text(Path(env.Body, "Code", "Value")) != "s:Receiver" || Text(Path(env.Body, "Code", "Subcode", "Value")) != "s:CertificateRequest" {
		t.Errorf("codes wrong: %s", b)
	}
	if !strings.Contains(Text(Path(env.Body, "Reason", "Text")), "0x80180004") {
		t.Error("reason lacks the error number")
	}
	detail := Path(env.Body, "Detail", "DeviceEnrollmentServiceError")
	if detail.NamespaceURI() != NSEnrollment || Text(Child(detail, "ErrorType")) != "CertificateRequest" || Text(Child(detail, "TraceId")) != "trace-1" {
		t.Errorf("detail wrong: %s", b)
	}
	if strings.Contains(string(b), "internal detail") {
		t.Error("internal cause leaked to the device")
	}
	if AsFault(errors.New("x")).Code != InternalServiceFault {
		t.Error("plain errors must become InternalServiceFault")
	}
}
