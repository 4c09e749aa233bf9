package aet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	doc := `<?xml version="1.0" encoding="utf-8"?>
<AET xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <AETId>4000000001</AETId>
  <AETToken>MIIGbTCCBVWgAwIBAgIQ</AETToken>
</AET>`
	tok, err := Parse([]byte(doc))
	if err != nil || tok.EnterpriseID != "4000000001" || tok.EnrollmentToken != "MIIGbTCCBVWgAwIBAgIQ" {
		t.Fatalf("%+v %v", tok, err)
	}
	for name, bad := range map[string]string{
		"not XML":  "AET",
		"no token": "<AET><AETId>1</AETId></AET>",
		"no ID":    "<AET><AETToken>x</AETToken></AET>",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err = Parse([]byte("<AET/>"))
	if err == nil || !strings.Contains(err.Error(), "AETId") || !strings.Contains(err.Error(), "AETToken") {
		t.Errorf("error does not say what was looked for: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.aetx")); err == nil {
		t.Error("missing file accepted")
	}
	f := filepath.Join(t.TempDir(), "AET.aetx")
	if err := os.WriteFile(f, []byte("<AET><EnterpriseId>7</EnterpriseId><EnrollmentToken>T</EnrollmentToken></AET>"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := ReadFile(f); err != nil || tok.EnterpriseID != "7" {
		t.Errorf("%+v %v", tok, err)
	}
}
