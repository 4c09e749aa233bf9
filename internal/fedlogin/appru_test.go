package fedlogin

import "testing"

func TestCheckAppRU(t *testing.T) {
	for _, ok := range []string{
		"ms-app://s-1-15-2-2666988183-1750391847-2906264630-3525785777-2857982319-3063633125-1907478113",
		"MS-APP://windows.immersivecontrolpanel",
		"ms-app://x/path?q=1&r=2",
	} {
		if err := checkAppRU(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "ms-app://", "ms-app:x", "https://evil.example/", "http://evil.example/", "javascript:alert(1)",
		"data:text/html,x", "//evil.example", "ms-appx-web://x", "ms-app-x://y", " ms-app://x",
		"ms-app://x\"><script>", "ms-app://x y", "ms-app://x\n", "ms-app://é",
		"ms-app://" + string(make([]byte, 3000)),
	} {
		if checkAppRU(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
