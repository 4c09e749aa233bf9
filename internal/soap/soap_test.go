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

// TestPasswordAsTypedOrPrettyPrinted: a password is taken as typed, spaces
// included; one pretty-printed onto its own line, as in MS-MDE2's
// examples, loses that layout's whitespace.
func TestPasswordAsTypedOrPrettyPrinted(t *testing.T) {
	capt := string(capture.Read(t, "a-enroll-request.xml"))
	for _, tc := range []struct{ text, want string }{
		{"demo", "demo"},
		{" demo pass ", " demo pass "},
		{"mypassword\n        ", "mypassword"},
		{"\r\n  my password\r\n", "my password"},
	} {
		env, err := Parse([]byte(strings.Replace(capt, ">demo</wsse:Password>", ">"+tc.text+"</wsse:Password>", 1)))
		if err != nil {
			t.Fatal(err)
		}
		if env.Security.Password != tc.want {
			t.Errorf("password element %q read as %q, want %q", tc.text, env.Security.Password, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	const open = "<s:Envelope xmlns:s='" + NSSoap + "'>"
	deep := open + "<s:Body>" + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + "</s:Body></s:Envelope>"
	for name, in := range map[string]string{
		"not XML":    "hello",
		"truncated":  string(capture.Read(t, "a-enroll-request.xml")[:500]),
		"other root": "<Envelop><Body><x/></Body></Envelop>",
		"no body":    open + "<s:Header/></s:Envelope>",
		"empty body": open + "<s:Body/></s:Envelope>",
		"too deep":   deep,
	} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// TestParseNamespace: only a SOAP 1.2 Envelope is served; inside it,
// elements are matched by local name whatever their namespace, as devices
// and their captures vary there.
func TestParseNamespace(t *testing.T) {
	enroll := string(capture.Read(t, "a-enroll-request.xml"))
	const soap12 = `xmlns:s="http://www.w3.org/2003/05/soap-envelope"`
	for name, tc := range map[string]struct {
		in   string
		want string // "" when accepted
	}{
		"SOAP 1.1": {strings.Replace(enroll, soap12, `xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"`, 1),
			`not a SOAP 1.2 envelope: namespace "http://schemas.xmlsoap.org/soap/envelope/"`},
		"no namespace": {"<Envelope><Body><x/></Body></Envelope>", `not a SOAP 1.2 envelope: namespace ""`},
		"foreign prefix": {strings.Replace(strings.Replace(enroll, "<s:Envelope", `<e:Envelope xmlns:e="urn:evil"`, 1), "</s:Envelope>", "</e:Envelope>", 1),
			`not a SOAP 1.2 envelope: namespace "urn:evil"`},
		"default namespace": {"<Envelope xmlns='" + NSSoap + "'><Body><x/></Body></Envelope>", ""},
		// What devices vary is tolerated: addressing with a trailing slash.
		"addressing with a trailing slash": {strings.Replace(enroll, `xmlns:a="http://www.w3.org/2005/08/addressing"`, `xmlns:a="http://www.w3.org/2005/08/addressing/"`, 1), ""},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.in == enroll {
				t.Fatal("substitution did nothing")
			}
			env, err := Parse([]byte(tc.in))
			if tc.want == "" {
				if err != nil || env.Body == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrMalformed with %q", err, tc.want)
			}
		})
	}
	for _, file := range []string{"a-discovery-request.xml", "a-policy-request.xml", "a-enroll-request.xml", "b-enroll-request.xml"} {
		if _, err := Parse(capture.Read(t, file)); err != nil {
			t.Errorf("capture %s: %v", file, err)
		}
	}
}

func TestFaultEnvelope(t *testing.T) {
	f := NewFault(CertificateRequest, errors.New("internal detail"), "The certificate request signature does not verify.")
	b := f.Envelope(ActionRequestTokenResp, "urn:uuid:1", "trace-1")
	env, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	// Microsoft's fault example answers with the operation's own Action.
	if env.Action != ActionRequestTokenResp || env.Body.Tag != "Fault" {
		t.Fatalf("fault envelope %s", b)
	}
	if !strings.Contains(string(b), `<a:Action s:mustUnderstand="1">`+ActionRequestTokenResp+`</a:Action><ActivityId CorrelationId="trace-1" xmlns="`+NSDiagnostics+`">trace-1</ActivityId><a:RelatesTo>urn:uuid:1</a:RelatesTo>`) {
		t.Errorf("fault header is not Action, ActivityId, RelatesTo: %s", b)
	}
	if b := f.Envelope("", "", "t"); !strings.Contains(string(b), ActionFault) {
		t.Errorf("a fault for an unknown operation: %s", b)
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
