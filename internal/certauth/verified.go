package certauth

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// verifiedChains remembers the chains that verified, so a device's
// certificate, presented with every OMA-DM message, costs one signature
// check per validity window rather than one per message (an RSA-3072
// verification is a few tenths of a millisecond, about a tenth of a
// session). The outcome of x509 verification with fixed roots depends only
// on the chain and the time, so an entry keeps the window in which every
// certificate of the verified chain is valid, and a hit outside it
// verifies again. Only successes are kept; the table is bounded.
type verifiedChains struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]window
}

type window struct{ from, until time.Time }

// maxVerified bounds the remembered chains; a full table starts over.
const maxVerified = 10000

func chainKey(chain []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range chain {
		if c != nil {
			h.Write(c.Raw)
		}
		h.Write([]byte{0})
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// ok reports whether chain verified before and now is inside its window.
func (v *verifiedChains) ok(key [sha256.Size]byte, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	w, found := v.entries[key]
	return found && !now.Before(w.from) && !now.After(w.until)
}

// remember keeps a verified chain with the window of the certificates it
// was verified through.
func (v *verifiedChains) remember(key [sha256.Size]byte, verified []*x509.Certificate) {
	if len(verified) == 0 {
		return
	}
	w := window{from: verified[0].NotBefore, until: verified[0].NotAfter}
	for _, c := range verified[1:] {
		if c.NotBefore.After(w.from) {
			w.from = c.NotBefore
		}
		if c.NotAfter.Before(w.until) {
			w.until = c.NotAfter
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.entries == nil || len(v.entries) >= maxVerified {
		v.entries = map[[sha256.Size]byte]window{}
	}
	v.entries[key] = w
}
