// Package quote bounds what a device sent before it is quoted in an error,
// a SOAP fault or a log line: a stranger's megabyte must not become a
// megabyte of log.
package quote

import "strconv"

// Bound returns s cut to at most n bytes at a UTF-8 boundary, saying how
// much was left out.
func Bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…[" + strconv.Itoa(len(s)-cut) + " more bytes]"
}
