package caddymdm

import "strconv"

// maxLoggedBody bounds a body written to a debug log line: a stranger's
// megabyte must not become a megabyte of log per request.
const maxLoggedBody = 16 << 10

// clip shortens s to at most n bytes (at a UTF-8 boundary), saying how much
// was left out.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…[" + strconv.Itoa(len(s)-cut) + " more bytes]"
}
