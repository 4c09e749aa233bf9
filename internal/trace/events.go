package trace

import (
	"maps"
	"strings"
)

// maxEventUser bounds the value of a user token event shown as a user
// name: an Entra user name is far shorter than any token.
const maxEventUser = 256

// userTokenEvents returns events with the Entra user token events made
// safe to show. The OMA-DM server keeps, under exactly aadUserTokenType,
// the verified user's name, never the token. An event under another
// spelling of that type (any case, spaces around) was kept verbatim by a
// server that matched the type case-sensitively: it is the token, and so
// is a value under the exact type that looks like one (a JWT, plain or in
// base64, or longer than any user name). Those values are REDACTED; the
// stored inventory is left as it is.
func userTokenEvents(events map[string]string) map[string]string {
	var out map[string]string
	for typ, v := range events {
		if v == "" || v == Redacted || !strings.EqualFold(strings.TrimSpace(typ), aadUserTokenType) {
			continue
		}
		if typ == aadUserTokenType && !tokenLike(v) {
			continue
		}
		if out == nil {
			out = maps.Clone(events)
		}
		out[typ] = Redacted
	}
	if out == nil {
		return events
	}
	return out
}

// tokenLike reports whether an event value looks like a token rather than
// a user name.
func tokenLike(v string) bool {
	v = strings.TrimSpace(v)
	return len(v) > maxEventUser || strings.HasPrefix(v, "eyJ") || strings.HasPrefix(v, "ZXlK")
}
