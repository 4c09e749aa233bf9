package quote

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Controls makes a string a device sent safe to print on a terminal as
// part of a line: control characters (C0 and C1, newline, carriage return
// and tab included, which would start a fake line or shift a column),
// Unicode line and paragraph separators, bidirectional overrides and bytes
// that are not UTF-8 are written as Go escapes (\n, \x1b, \u009b), the way
// strconv.Quote writes them; everything else, backslashes included, stays
// as it is.
func Controls(s string) string {
	i := strings.IndexFunc(s, unsafeRune)
	if i < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[0])|0x100, 16)[1:])
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || IsBidiControl(r) || r == utf8.RuneError
}

// IsBidiControl reports whether r is an invisible character that reorders
// the text around it (an embedding, override or isolate, or a directional
// mark): a device name ending in U+202E then "live" reads "evil".
func IsBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' ||
		(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}
