package fedlogin

import (
	"errors"
	"net/url"
	"strings"
)

// maxAppRU bounds the appru parameter; Windows sends a short ms-app:// URI
// naming its enrollment app (the app's package SID).
const maxAppRU = 2048

// AppRUScheme is the only scheme the page posts its token to. MS-MDE2
// (3.2, Interaction with the STS) and Microsoft's federated enrollment
// guide define appru as "of the form ms-app://string": the Web
// Authentication Broker's callback, which it intercepts instead of
// navigating. Any other scheme (http, https, javascript, data, ...) would
// make the page post a bearer token to a site of the caller's choosing.
const AppRUScheme = "ms-app"

// errAppRU is the reason shown (and logged) for a refused appru.
var errAppRU = errors.New("appru must be an ms-app:// address (the Windows enrollment app)")

// checkAppRU accepts an appru of the ms-app scheme made only of URI
// characters (RFC 3986 unreserved, reserved and '%') that html/template's
// URL normalizer leaves as they are, so that the page echoes it byte for
// byte. The sub-delimiters ' ( and ) are refused: the normalizer
// percent-encodes them, and Windows' ms-app:// package SIDs never hold them.
func checkAppRU(s string) error {
	if s == "" || len(s) > maxAppRU {
		return errAppRU
	}
	for i := 0; i < len(s); i++ {
		if !uriChar(s[i]) {
			return errAppRU
		}
	}
	u, err := url.Parse(s)
	if err != nil || !strings.EqualFold(u.Scheme, AppRUScheme) || !strings.HasPrefix(strings.ToLower(s), AppRUScheme+"://") || len(s) == len(AppRUScheme+"://") {
		return errAppRU
	}
	return nil
}

func uriChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&*+,;=%", c) >= 0
}

// maxLoginHint bounds login_hint (a UPN); a longer one is ignored.
const maxLoginHint = 256

// cleanHint returns login_hint if it is a plausible user name, else "".
func cleanHint(s string) string {
	if len(s) > maxLoginHint {
		return ""
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	return s
}
