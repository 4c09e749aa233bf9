package xmltree

import (
	"strings"
	"unicode/utf8"
)

// Event is what Scan reports.
type Event uint8

// Scan events. An empty element (<a/>) is reported as StartEvent then
// EndEvent, as encoding/xml reports it.
const (
	// StartEvent: name is the element's name.
	StartEvent Event = iota
	// AttrEvent: an attribute of the element just started; value is raw
	// (Scan admits no reference in attribute values, so raw is the value).
	AttrEvent
	// EndEvent: name is the element's name.
	EndEvent
	// TextEvent: value is a non-empty run of character data as written,
	// references undecoded (Unescape decodes it).
	TextEvent
	// DeclEvent: the XML declaration.
	DeclEvent
)

// maxScanDepth bounds the elements Scan keeps open (its stack lives on the
// goroutine stack); deeper documents are left to encoding/xml.
const maxScanDepth = 64

// Scan reads the plain XML devices and servers actually exchange, without
// allocating, and reports it through fn as encoding/xml's RawToken would.
// It is a fast path, not a parser of its own: it returns false, possibly
// after reporting events, as soon as the document leaves a strict subset of
// XML 1.0 (comments, CDATA, DOCTYPE and other declarations, processing
// instructions but a leading <?xml version="1.0" encoding="UTF-8"?>,
// prefixed or non-ASCII names, references in attribute values, entity
// references but the five predefined ones, carriage returns, "]]>" in text,
// characters XML forbids, invalid UTF-8, unbalanced or mismatched tags,
// more than one root, text outside the root, deeper nesting than 64). Every
// document it accepts is well-formed, and encoding/xml reads it into the
// same tokens, so callers fall back to encoding/xml (or etree) on false and
// behave exactly as if they had used it alone. fn returning false stops the
// scan, and Scan returns false.
func Scan(s string, fn func(ev Event, name, value string) bool) bool {
	return scan(s, nameLen, fn)
}

// scanQualified is Scan that also reads names with one prefix
// ("s:Envelope", "xmlns:s"), reported prefix and all, as RawToken's
// Space and Local together: SOAP envelopes, whose every name has one.
// Limits counts with it; the SyncML reader keeps Scan, which refuses
// prefixes it would misread.
func scanQualified(s string, fn func(ev Event, name, value string) bool) bool {
	return scan(s, qnameLen, fn)
}

// scan is Scan with names read by names (nameLen or qnameLen).
func scan(s string, names func(string) int, fn func(ev Event, name, value string) bool) bool {
	var stack [maxScanDepth]string
	depth := 0
	roots := 0
	i := 0
	for i < len(s) {
		if s[i] != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			run := s[i : i+j]
			if !validText(run) || (depth == 0 && !isSpace(run)) {
				return false
			}
			if !fn(TextEvent, "", run) {
				return false
			}
			i += j
			continue
		}
		if i+1 >= len(s) {
			return false
		}
		switch s[i+1] {
		case '/':
			n := names(s[i+2:])
			if n == 0 || depth == 0 {
				return false
			}
			name := s[i+2 : i+2+n]
			j := skipSpace(s, i+2+n)
			if j >= len(s) || s[j] != '>' || stack[depth-1] != name {
				return false
			}
			depth--
			if !fn(EndEvent, name, "") {
				return false
			}
			i = j + 1
		case '?':
			// Only the XML declaration, and only before the root.
			if roots > 0 || !strings.HasPrefix(s[i:], "<?xml") {
				return false
			}
			end := strings.Index(s[i:], "?>")
			if end < 0 || !validDecl(s[i+len("<?xml"):i+end]) {
				return false
			}
			if !fn(DeclEvent, "xml", "") {
				return false
			}
			i += end + 2
		case '!':
			return false
		default:
			n := names(s[i+1:])
			if n == 0 || (depth == 0 && roots > 0) || depth == maxScanDepth {
				return false
			}
			name := s[i+1 : i+1+n]
			// The whole tag is checked before any event, as RawToken
			// reads it whole before returning it.
			j := i + 1 + n
			for {
				_, _, next, ok := nextAttr(s, j, names)
				if !ok {
					return false
				}
				if next == j {
					break
				}
				j = next
			}
			k := skipSpace(s, j)
			empty := k < len(s) && s[k] == '/'
			if empty {
				k++
			}
			if k >= len(s) || s[k] != '>' {
				return false
			}
			if depth == 0 {
				roots++
			}
			if !fn(StartEvent, name, "") {
				return false
			}
			for j := i + 1 + n; ; {
				an, av, next, _ := nextAttr(s, j, names)
				if next == j {
					break
				}
				if !fn(AttrEvent, an, av) {
					return false
				}
				j = next
			}
			if empty {
				if !fn(EndEvent, name, "") {
					return false
				}
			} else {
				stack[depth] = name
				depth++
			}
			i = k + 1
		}
	}
	return depth == 0 && roots == 1
}

// nextAttr reads the attribute at j (white space, name, '=', quoted
// value); next == j when the tag ends there, ok false when what follows is
// neither an attribute nor the tag's end.
func nextAttr(s string, j int, names func(string) int) (name, value string, next int, ok bool) {
	k := skipSpace(s, j)
	if k >= len(s) {
		return "", "", j, false
	}
	if s[k] == '>' || s[k] == '/' {
		return "", "", j, true
	}
	if k == j {
		return "", "", j, false // attributes are separated by white space
	}
	an := names(s[k:])
	if an == 0 {
		return "", "", j, false
	}
	name = s[k : k+an]
	k = skipSpace(s, k+an)
	if k >= len(s) || s[k] != '=' {
		return "", "", j, false
	}
	k = skipSpace(s, k+1)
	if k >= len(s) || (s[k] != '"' && s[k] != '\'') {
		return "", "", j, false
	}
	q := s[k]
	end := strings.IndexByte(s[k+1:], q)
	if end < 0 {
		return "", "", j, false
	}
	value = s[k+1 : k+1+end]
	if strings.ContainsAny(value, "<&") || !validText(value) {
		return "", "", j, false
	}
	return name, value, k + 1 + end + 1, true
}

// nameLen is the length of the ASCII, unprefixed XML name s starts with
// (0: none).
func nameLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return i
		}
	}
	return len(s)
}

// qnameLen is the length of the name s starts with, unprefixed or with one
// prefix (0: none). A second colon ends the name, and the tag then fails
// to parse: Scan gives such documents to encoding/xml.
func qnameLen(s string) int {
	n := nameLen(s)
	if n == 0 || n+1 >= len(s) || s[n] != ':' {
		return n
	}
	if m := nameLen(s[n+1:]); m > 0 {
		return n + 1 + m
	}
	return n
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
		i++
	}
	return i
}

func isSpace(s string) bool {
	return skipSpace(s, 0) == len(s)
}

// validText reports whether a run of character data is in Scan's subset:
// valid UTF-8 of characters XML allows, no carriage return (encoding/xml
// rewrites line ends), no "]]>", and only the predefined entity references
// and character references to allowed characters.
func validText(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				n, ok := reference(s[i:])
				if !ok {
					return false
				}
				i += n
				continue
			case c == ']' && strings.HasPrefix(s[i:], "]]>"):
				return false
			case c < 0x20 && c != '\t' && c != '\n':
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !allowedRune(r) {
			return false
		}
		i += size
	}
	return true
}

// allowedRune is XML 1.0's Char production (as encoding/xml checks it).
func allowedRune(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// reference decodes the reference s starts with ("&...;"): its length and
// whether Scan admits it.
func reference(s string) (int, bool) {
	_, n, ok := decodeReference(s)
	return n, ok
}

func decodeReference(s string) (r rune, n int, ok bool) {
	end := strings.IndexByte(s, ';')
	if end < 2 || end > 12 {
		return 0, 0, false
	}
	body := s[1:end]
	switch body {
	case "lt":
		return '<', end + 1, true
	case "gt":
		return '>', end + 1, true
	case "amp":
		return '&', end + 1, true
	case "apos":
		return '\'', end + 1, true
	case "quot":
		return '"', end + 1, true
	}
	if body[0] != '#' || len(body) < 2 {
		return 0, 0, false
	}
	digits, base := body[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, 0, false
	}
	var v rune
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, 0, false
		}
		v = v*base + d
	}
	if !allowedRune(v) {
		return 0, 0, false
	}
	return v, end + 1, true
}

// Unescape decodes the references of a run Scan reported (no copy when
// there is none).
func Unescape(s string) string {
	i := strings.IndexByte(s, '&')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		r, n, _ := decodeReference(s[i:])
		b.WriteRune(r)
		s = s[i+n:]
		i = strings.IndexByte(s, '&')
	}
	b.WriteString(s)
	return b.String()
}

// validDecl admits the XML declaration's pseudo-attributes as written in
// practice: version="1.0", then optionally encoding="UTF-8" (any case) and
// standalone="yes"/"no", single-space separated, either quote.
func validDecl(s string) bool {
	for i, key := range []string{"version", "encoding", "standalone"} {
		if s == "" || s == " " {
			return i > 0
		}
		rest, ok := strings.CutPrefix(s, " "+key+"=")
		if !ok {
			if i == 0 {
				return false
			}
			continue
		}
		if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
			return false
		}
		end := strings.IndexByte(rest[1:], rest[0])
		if end < 0 {
			return false
		}
		val := rest[1 : 1+end]
		switch key {
		case "version":
			if val != "1.0" {
				return false
			}
		case "encoding":
			if !strings.EqualFold(val, "utf-8") {
				return false
			}
		case "standalone":
			if val != "yes" && val != "no" {
				return false
			}
		}
		s = rest[1+end+1:]
	}
	return s == "" || s == " "
}
