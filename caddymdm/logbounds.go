package caddymdm

import (
	"strconv"

	"github.com/caddy-mdm/caddy-mdm/internal/quote"
)

// maxLoggedBody bounds a body written to a debug log line: a stranger's
// megabyte must not become a megabyte of log per request.
const maxLoggedBody = 16 << 10

// maxLoggedField bounds one value a device chose (a SessionID, a MsgID, a
// refusal's reason quoting it) in a log line: real ones are a few bytes.
const maxLoggedField = 128

// maxLoggedList bounds the entries of a list logged per message (commands
// received, notes): a real message has tens; a hostile one could have
// tens of thousands, each naming what the device sent.
const maxLoggedList = 64

// boundedField is quote.Bound at maxLoggedField.
func boundedField(s string) string { return quote.Bound(s, maxLoggedField) }

// boundedList returns at most maxLoggedList entries, each bounded, and says
// how many more there were.
func boundedList(list []string) []string {
	n := min(len(list), maxLoggedList)
	out := make([]string, 0, n+1)
	for _, s := range list[:n] {
		out = append(out, boundedField(s))
	}
	if len(list) > n {
		out = append(out, "…"+strconv.Itoa(len(list)-n)+" more")
	}
	return out
}
