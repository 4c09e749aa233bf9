// Package tlsresume lets devices resume TLS sessions on a server that asks
// for client certificates, without letting a session cross into a place it
// was not authenticated for.
//
// A resumed session skips the certificate exchange: the server takes the
// client's certificate from the ticket. So a ticket must only be accepted
// where the same client authentication would have accepted the same
// certificate. Each ticket therefore carries a tag naming its realm (the
// client CA and mode it was verified under) and the server name it was
// issued under; a ticket whose tag does not match the connection it is
// offered on is ignored, and the client falls back to a full handshake.
// crypto/tls itself re-verifies the resumed chain against the current
// client CAs and the leaf's expiry. No ticket allows 0-RTT data (QUIC),
// which an eavesdropper could replay.
//
// Tickets are encrypted with keys of their own (Keys), random per period
// and kept where every node of a cluster reads them, so that any node
// resumes a session another issued, and no other TLS configuration of the
// process can read them.
package tlsresume

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// tagLabel opens every realm tag, so that a tag is never mistaken for
// anything else a ticket's Extra may hold.
const tagLabel = "caddy-mdm tls session realm v1"

// binding is the ticket callbacks of one connection policy.
type binding struct {
	keys  *Keys
	realm []byte
}

// Enable turns session tickets on for cfg, bound to realm (e.g. a digest
// of the client CA's certificate and the client authentication mode) and
// encrypted with keys, which must have been rotated once. cfg must not be
// serving yet. Whatever resumption cfg had (or had disabled) is replaced.
func Enable(cfg *tls.Config, keys *Keys, realm []byte) error {
	if len(realm) == 0 {
		return errors.New("tlsresume: a realm is needed")
	}
	if keys.current() == nil {
		return errors.New("tlsresume: no ticket keys yet")
	}
	b := &binding{keys: keys, realm: append([]byte(nil), realm...)}
	cfg.SessionTicketsDisabled = false
	cfg.WrapSession = b.wrap
	cfg.UnwrapSession = b.unwrap
	return nil
}

// wrap is cfg.WrapSession: the ticket carries the realm tag and allows no
// early data. With stale keys it is encrypted so that it never resumes (an
// error here would end the connection).
func (b *binding) wrap(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	ss.EarlyData = false
	ss.Extra = append(ss.Extra, b.tag(cs.ServerName))
	if b.keys.stale() {
		return unusable().EncryptTicket(cs, ss)
	}
	return b.keys.current().EncryptTicket(cs, ss)
}

// unwrap is cfg.UnwrapSession: a ticket that does not decrypt, or whose
// tag is not this realm and server name, or any ticket while the keys are
// stale, gives a full handshake (nil session, no error: an error would end
// the connection).
func (b *binding) unwrap(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
	if b.keys.stale() {
		return nil, nil
	}
	ss, err := b.keys.current().DecryptTicket(identity, cs)
	if err != nil || ss == nil {
		return nil, nil
	}
	if !b.hasTag(ss, cs.ServerName) || !b.young(ss) {
		return nil, nil
	}
	ss.EarlyData = false
	return ss, nil
}

// hasTag reports whether ss was issued for this realm and server name.
func (b *binding) hasTag(ss *tls.SessionState, serverName string) bool {
	want := b.tag(serverName)
	for _, extra := range ss.Extra {
		if hmac.Equal(extra, want) {
			return true
		}
	}
	return false
}

// young reports whether the session began (its full handshake) less than
// MaxSessionAge ago. A TLS 1.2 resumption hands the client a new ticket
// with the same master secret and the first handshake's time, so without
// this a session's traffic key would live as long as Go allows (7 days)
// however often the ticket keys turn.
func (b *binding) young(ss *tls.SessionState) bool {
	created, ok := sessionCreated(ss)
	return ok && b.keys.now().Sub(created) < MaxSessionAge
}

// sessionCreated is the time ss's full handshake took place. crypto/tls
// keeps it unexported; its encoding (SessionState.Bytes) starts with the
// version (2 bytes), the side (1: server), the cipher suite (2) and the
// creation time (8, Unix seconds). An encoding that does not look like
// that counts as unknown, and the session is not resumed.
func sessionCreated(ss *tls.SessionState) (time.Time, bool) {
	raw, err := ss.Bytes()
	if err != nil || len(raw) < 13 {
		return time.Time{}, false
	}
	version := binary.BigEndian.Uint16(raw[0:2])
	if version < tls.VersionTLS12 || version > tls.VersionTLS13 || raw[2] != 1 {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint64(raw[5:13])), 0), true
}

// tag names the realm and the server name a ticket was issued under.
// Server names compare in any case, as TLS does.
func (b *binding) tag(serverName string) []byte {
	h := sha256.New()
	h.Write([]byte(tagLabel))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b.realm)))
	h.Write(n[:])
	h.Write(b.realm)
	h.Write([]byte(strings.ToLower(serverName)))
	return h.Sum(nil)
}
