package trace

import (
	"net/url"
	"strings"

	"github.com/beevik/etree"
)

// SessionTokenParam is the query parameter of a digest session's RespURI
// that carries its session token (omadm.SessionTokenParam). The token lets
// whoever holds it act as the device for the rest of the session, so its
// value is redacted wherever a URL of a SyncML header shows it: the
// server's RespURI, and a device's Target LocURI naming that RespURI.
const SessionTokenParam = "dmsession"

// uriElement reports whether an element (lower-case local name) holds a
// URL that may carry the session token.
func uriElement(name string) bool { return name == "respuri" || name == "locuri" }

// redactURI replaces the value of every session token parameter in the
// text of e with REDACTED, keeping the rest of the URL as it was.
func redactURI(e *etree.Element) {
	var text strings.Builder
	for _, t := range e.Child {
		if cd, ok := t.(*etree.CharData); ok {
			text.WriteString(cd.Data)
		}
	}
	in := text.String()
	out := RedactSessionToken(in)
	if out == in {
		return
	}
	// The text is rewritten whole (CDATA and split runs included); any
	// child element stays, after it.
	kept := e.ChildElements()
	e.Child = nil
	e.SetText(out)
	for _, c := range kept {
		e.AddChild(c)
	}
}

// RedactSessionToken returns uri with the value of each query parameter
// named SessionTokenParam (in any case, escaped or not) replaced by
// REDACTED; the rest is left as it was. Text without such a parameter comes
// back unchanged.
func RedactSessionToken(uri string) string {
	base, query, ok := strings.Cut(uri, "?")
	if !ok {
		return uri
	}
	query, frag, hasFrag := strings.Cut(query, "#")
	parts := strings.Split(query, "&")
	changed := false
	for i, p := range parts {
		key, _, _ := strings.Cut(p, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if strings.EqualFold(strings.TrimSpace(key), SessionTokenParam) {
			parts[i] = p[:strings.IndexByte(p+"=", '=')] + "=" + Redacted
			changed = true
		}
	}
	if !changed {
		return uri
	}
	out := base + "?" + strings.Join(parts, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out
}
