package xmltree

import (
	"errors"
	"strings"
	"testing"
)

func TestLimitsCheck(t *testing.T) {
	l := Limits{MaxNodes: 100, MaxDepth: 5}
	cases := []struct {
		name string
		doc  string
		over bool
	}{
		{"small", `<a><b x="1">t</b></a>`, false},
		{"many elements", "<a>" + strings.Repeat("<b/>", 200) + "</a>", true},
		{"many attributes", "<a" + attrs(150) + "/>", true},
		{"deep", strings.Repeat("<a>", 6) + strings.Repeat("</a>", 6), true},
		{"at depth bound", strings.Repeat("<a>", 5) + strings.Repeat("</a>", 5), false},
		{"not well-formed is the parser's to report", "<a><b></a>", false},
	}
	for _, c := range cases {
		err := l.Check([]byte(c.doc))
		if got := errors.Is(err, ErrLimit); got != c.over {
			t.Errorf("%s: Check = %v, want over limit %v", c.name, err, c.over)
		}
	}
}

func attrs(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(" a")
		b.WriteString(strings.Repeat("x", i%7+1))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(`="v"`)
	}
	return b.String()
}
