package omadm

import "strings"

// isAADUserTokenType reports whether an alert item's Meta Type names the
// Entra user token. It is compared as trace compares it (any case, spaces
// around ignored): an item that trace redacts as a credential must never
// be kept verbatim as an inventory event.
func isAADUserTokenType(typ string) bool {
	return strings.EqualFold(strings.TrimSpace(typ), AADUserTokenType)
}
