package issuer

import "testing"

func TestNewSubjectRefusesNonPrintable(t *testing.T) {
	for _, cn := range []string{"", "BA405A5D!1E08C6E9", "1E08C6E9\x00", "a_b", "ü", "x@y", string(make([]byte, 65))} {
		if _, err := NewSubject(cn); err == nil {
			t.Errorf("NewSubject(%q) accepted", cn)
		}
	}
	s, err := NewSubject("1E08C6E95D8BB843B1278FF45BC60CC6")
	if err != nil {
		t.Fatal(err)
	}
	if s.String() != "CN=1E08C6E95D8BB843B1278FF45BC60CC6" {
		t.Errorf("String %q", s.String())
	}
	// SEQUENCE{SET{SEQUENCE{OID 2.5.4.3, PrintableString(19)}}}
	if s.DER[11] != 19 {
		t.Errorf("value tag %d, want 19 (PrintableString)", s.DER[11])
	}
}
