package quote

import "testing"

func TestBound(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "0123456789…[3 more bytes]"},
		{"ééé", 3, "é…[4 more bytes]"}, // never half a character
	} {
		if got := Bound(c.in, c.n); got != c.want {
			t.Errorf("Bound(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
