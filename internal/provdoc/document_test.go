package provdoc

import (
	"strings"
	"testing"
)

func TestPercentEncode(t *testing.T) {
	for in, want := range map[string]string{
		"CN=1E08C6E9":              "CN%3D1E08C6E9",
		`My\User`:                  "My%5CUser",
		"CN=a b,O=Contoso & Co":    "CN%3Da%20b%2CO%3DContoso%20%26%20Co",
		"CN=B1C43CD0-1624-5FBB.x~": "CN%3DB1C43CD0-1624-5FBB.x~",
	} {
		if got := PercentEncode(in); got != want {
			t.Errorf("PercentEncode(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SearchCriteria("CN=X", `My\System`); got != "Subject=CN%3DX&Stores=My%5CSystem" {
		t.Errorf("SearchCriteria %q", got)
	}
}

func TestValidateRefusesBrokenDocuments(t *testing.T) {
	d := &Document{Flavour: WindowsPhone8, ClientSubject: "CN=x\x00", EnterpriseApp: &EnterpriseApp{EnterpriseID: "1"}}
	err := d.Validate()
	if err == nil {
		t.Fatal("empty document validated")
	}
	for _, want := range []string{"root and client", "EntDMID", "NUL", "APPAUTH", "P9", "P10"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation error lacks %q: %v", want, err)
		}
	}
	if _, err := d.Bytes(); err == nil {
		t.Error("Bytes wrote an invalid document")
	}
}
