// Package tlsresume lets devices resume TLS sessions on a server that asks
// for client certificates, without letting a session cross into a place it
// was not authenticated for.
//
// A resumed session skips the certificate exchange: the server takes the
// client's certificate from the ticket. So a ticket must only be accepted
// where the same client authentication would have accepted the same
// certificate. Each ticket therefore carries a tag naming its realm (the
// client CA it was verified against) and the server name it was issued
// under; a ticket whose tag does not match the connection it is offered on
// is ignored, and the client falls back to a full handshake. crypto/tls
// itself re-verifies the resumed chain against the current client CAs and
// the leaf's expiry.
//
// Tickets are encrypted with keys of their own, derived from a secret the
// caller shares between the nodes of a cluster, so that any node resumes a
// session another issued, and no other TLS configuration of the process
// can read them.
package tlsresume

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"time"
)

// KeyPeriod is how long one ticket key encrypts new tickets. Tickets stay
// readable for KeptKeys periods after that, so a ticket lives at most
// (KeptKeys+1) periods: short, as a ticket key is what protects a resumed
// TLS 1.2 session's traffic.
const KeyPeriod = 12 * time.Hour

// KeptKeys is how many earlier periods' keys still decrypt tickets.
const KeptKeys = 3

// minSecret is the least secret accepted to derive ticket keys from.
const minSecret = 32

// tagLabel opens every realm tag, so that a tag is never mistaken for
// anything else a ticket's Extra may hold.
const tagLabel = "caddy-mdm tls session realm v1"

// Tickets issues and accepts session tickets for one realm.
type Tickets struct {
	realm  []byte
	secret []byte
	now    func() time.Time

	mu     sync.Mutex
	period int64
	keys   *tls.Config // holds only the ticket keys of period
}

// New returns the tickets of realm (e.g. a digest of the client CA's
// certificate), with keys derived from secret. now is the clock (nil:
// time.Now).
func New(realm, secret []byte, now func() time.Time) (*Tickets, error) {
	if len(secret) < minSecret {
		return nil, errors.New("tlsresume: the ticket secret is too short")
	}
	if len(realm) == 0 {
		return nil, errors.New("tlsresume: a realm is needed")
	}
	if now == nil {
		now = time.Now
	}
	return &Tickets{realm: append([]byte(nil), realm...), secret: append([]byte(nil), secret...), now: now, period: -1}, nil
}

// Enable turns session tickets on for cfg, bound to t's realm. cfg must not
// be serving yet. Whatever resumption cfg had (or had disabled) is
// replaced.
func (t *Tickets) Enable(cfg *tls.Config) {
	cfg.SessionTicketsDisabled = false
	cfg.WrapSession = t.wrap
	cfg.UnwrapSession = t.unwrap
}

// Enabled reports whether cfg resumes sessions with tickets of this kind
// (of any realm).
func Enabled(cfg *tls.Config) bool {
	return cfg != nil && !cfg.SessionTicketsDisabled && cfg.UnwrapSession != nil && cfg.WrapSession != nil
}

// wrap is cfg.WrapSession: the ticket carries the realm tag.
func (t *Tickets) wrap(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	ss.Extra = append(ss.Extra, t.tag(cs.ServerName))
	keys, err := t.keysNow()
	if err != nil {
		return nil, err
	}
	return keys.EncryptTicket(cs, ss)
}

// unwrap is cfg.UnwrapSession: a ticket that does not decrypt, or whose
// tag is not this realm and server name, gives a full handshake (nil
// session, no error: an error would end the connection).
func (t *Tickets) unwrap(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
	keys, err := t.keysNow()
	if err != nil {
		return nil, nil
	}
	ss, err := keys.DecryptTicket(identity, cs)
	if err != nil || ss == nil {
		return nil, nil
	}
	want := t.tag(cs.ServerName)
	for _, extra := range ss.Extra {
		if hmac.Equal(extra, want) {
			return ss, nil
		}
	}
	return nil, nil
}

// tag names the realm and the server name a ticket was issued under.
// Server names compare in any case, as TLS does.
func (t *Tickets) tag(serverName string) []byte {
	h := sha256.New()
	h.Write([]byte(tagLabel))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(t.realm)))
	h.Write(n[:])
	h.Write(t.realm)
	h.Write([]byte(strings.ToLower(serverName)))
	return h.Sum(nil)
}

// keysNow returns the key holder of the current period, deriving the keys
// when a period begins.
func (t *Tickets) keysNow() (*tls.Config, error) {
	period := t.now().Unix() / int64(KeyPeriod/time.Second)
	t.mu.Lock()
	defer t.mu.Unlock()
	if period == t.period && t.keys != nil {
		return t.keys, nil
	}
	keys, err := t.periodKeys(period)
	if err != nil {
		return nil, err
	}
	cfg := new(tls.Config)
	cfg.SetSessionTicketKeys(keys)
	t.period, t.keys = period, cfg
	return cfg, nil
}

// periodKeys are the keys of period (which encrypts), the next one (so a
// node whose clock is a little behind another's still reads its tickets)
// and the KeptKeys before it.
func (t *Tickets) periodKeys(period int64) ([][32]byte, error) {
	periods := []int64{period, period + 1}
	for i := int64(1); i <= KeptKeys; i++ {
		periods = append(periods, period-i)
	}
	keys := make([][32]byte, 0, len(periods))
	for _, p := range periods {
		var info [8]byte
		binary.BigEndian.PutUint64(info[:], uint64(p))
		k, err := hkdf.Key(sha256.New, t.secret, []byte("caddy-mdm tls session ticket key"), string(info[:]), 32)
		if err != nil {
			return nil, err
		}
		keys = append(keys, [32]byte(k))
	}
	return keys, nil
}
