package fedlogin

import (
	"html"
	"net/http/httptest"
	"regexp"
	"testing"
)

var formAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)

// renderedAppRU renders the token page for appru and returns the form's
// target as the browser reads it (HTML entities decoded).
func renderedAppRU(t *testing.T, appru string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := render(rec, 200, "post", postPage{Site: "s", User: "u", Token: "t", AppRU: templateURL(appru), CSS: css, Script: autoPost}); err != nil {
		t.Fatal(err)
	}
	m := formAction.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no form action in %s", rec.Body)
	}
	return html.UnescapeString(m[1])
}

// Every appru checkAppRU accepts reaches the form's action byte for byte:
// each byte value in a few positions, and real Windows values.
func TestAcceptedAppRUEchoedExactly(t *testing.T) {
	cases := []string{
		"ms-app://s-1-15-2-2666988183-1750391847-2906264630-3525785777-2857982319-3063633125-1907478113",
		"MS-APP://windows.immersivecontrolpanel",
		"ms-app://x/path?q=1&r=2#f",
		"ms-app://x%41%zz[::1]@h:1/;a=b,c*d+e!f$g~h",
	}
	for c := 0; c < 256; c++ {
		cases = append(cases, "ms-app://a"+string([]byte{byte(c)})+"b", "ms-app://"+string([]byte{byte(c)}), "ms-app://x/"+string([]byte{byte(c)}))
	}
	accepted := 0
	for _, appru := range cases {
		if checkAppRU(appru) != nil {
			continue
		}
		accepted++
		if got := renderedAppRU(t, appru); got != appru {
			t.Errorf("appru %q rendered as %q", appru, got)
		}
	}
	if accepted < 60 {
		t.Errorf("only %d cases accepted", accepted)
	}
	for _, bad := range []string{"ms-app://x'y", "ms-app://x(y)", "ms-app://x)"} {
		if checkAppRU(bad) == nil {
			t.Errorf("%q accepted: html/template would not echo it exactly", bad)
		}
	}
}
