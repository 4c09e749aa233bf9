package emulator

import "testing"

func TestParseFailURI(t *testing.T) {
	for _, c := range []struct {
		in   string
		uri  string
		code int
	}{
		{"./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera=405", "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera", 405},
		{"Delete:./Device/X=500", "Delete:./Device/X", 500},
	} {
		uri, code, err := ParseFailURI(c.in)
		if err != nil || uri != c.uri || code != c.code {
			t.Errorf("%q: %q %d %v", c.in, uri, code, err)
		}
	}
	for _, bad := range []string{"./X", "X=405", "./X=200", "./X=abc", ":./X=405", "./X=600"} {
		if _, _, err := ParseFailURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
