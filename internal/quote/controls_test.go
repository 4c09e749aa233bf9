package quote

import "testing"

func TestControls(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Contoso PC", "Contoso PC"},
		{`C:\Windows`, `C:\Windows`},
		{"é ü 中", "é ü 中"},
		{"a\nfake line", `a\nfake line`},
		{"a\r\tb", `a\r\tb`},
		{"\x1b[2J", `\x1b[2J`},
		{"csi\u009b2J", `csi\u009b2J`},
		{"rtl\u202egnp.exe", `rtl\u202egnp.exe`},
		{"mark\u200fed \u061c\u2067", `mark\u200fed \u061c\u2067`},
		{"bad\xffbyte", `bad\xffbyte`},
		{"\x00", `\x00`},
	} {
		if got := Controls(c.in); got != c.want {
			t.Errorf("Controls(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
