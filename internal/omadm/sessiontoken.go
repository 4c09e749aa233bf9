package omadm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/randtext"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

// A digest-authenticated session is bound to a secret the server hands only
// to the peer that proved the digest: an unguessable token carried in the
// RespURI of every reply (OMA DM 1.2: the client sends its next message of
// the session to the RespURI of the last reply). A message of that session
// without the token is not the device's, whatever DeviceID and SessionID it
// names.
//
// Only the token's SHA-256 is kept, in the session's stored state
// (store.Session.TokenHash), so the next message of the session may reach
// another live node of a cluster: the node checks it under the device
// lock, against state every node reads. The hash opens nothing by itself
// (192 random bits), so storage readers learn no usable secret. The token
// expires after SessionIdle without a message and when the session ends.
//
// No token survives a restart of the process that issued it: the session
// also records the issuer's node ID and boot ID (drawn from crypto/rand
// when the Server is validated, never reused, never stored but in its
// sessions and its heartbeat). A token opens the session only on its
// issuer, or on another node while the issuer's heartbeat is alive and
// names the same boot; a restarted issuer (a new boot, under the same node
// ID or another) or a dead one leaves its tokens dead, and the device
// authenticates again with its digest.

// SessionTokenParam is the query parameter of the RespURI that carries the
// session token; trace redacts its value.
const SessionTokenParam = trace.SessionTokenParam

// DefaultSessionIdle is how long a digest session stays open between two
// messages of the device.
const DefaultSessionIdle = 2 * time.Minute

// newBootID draws the boot ID of a server process. It is read from
// crypto/rand, not Server.Rand: a deterministic Rand (tests) must never make
// two processes share one.
func newBootID() (string, error) {
	return randtext.Secret(rand.Reader, 12)
}

// issueToken returns a fresh session token and binds sess to it until
// expires, as issued by node in the process started as boot.
func issueToken(rand io.Reader, sess *store.Session, expires time.Time, node, boot string) (string, error) {
	token, err := randtext.Secret(rand, 24)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(token))
	sess.TokenHash, sess.TokenExpires = hex.EncodeToString(h[:]), expires
	sess.TokenNode, sess.TokenBoot = node, boot
	return token, nil
}

// checkToken reports whether token is sess's and unexpired at now.
func checkToken(sess *store.Session, token string, now time.Time) bool {
	if token == "" || sess == nil || sess.TokenHash == "" || sess.Ended || !now.Before(sess.TokenExpires) {
		return false
	}
	h := sha256.Sum256([]byte(token))
	want, err := hex.DecodeString(sess.TokenHash)
	return err == nil && subtle.ConstantTimeCompare(h[:], want) == 1
}

// continueSession reports whether token opens x's session: it is the
// session's, unexpired, and its issuer still runs (issuerLive). If so the
// session stays open SessionIdle longer.
func (x *exchange) continueSession(token string) (bool, error) {
	sess := x.sess
	if !checkToken(sess, token, x.now) {
		return false, nil
	}
	live, err := x.s.issuerLive(x.ctx, sess.TokenNode, sess.TokenBoot, x.now)
	if !live || err != nil {
		return false, err
	}
	sess.TokenExpires = x.now.Add(x.s.SessionIdle)
	return true, nil
}

// issuerLive reports whether the process that issued a token (node, boot)
// still runs: it is this one, or another node whose heartbeat is alive at
// now and names that boot. A heartbeat naming no boot (a node of an
// earlier version) counts as that node's. A token of an earlier run of
// this node, or naming no boot (issued before tokens named their issuer),
// is dead. err is only the storage failing.
func (s *Server) issuerLive(ctx context.Context, node, boot string, now time.Time) (bool, error) {
	switch {
	case boot == "":
		return false, nil
	case boot == s.boot:
		return true, nil
	case node == "" || node == s.NodeID:
		return false, nil
	}
	current, alive, err := s.Store.NodeBoot(ctx, node, now)
	if err != nil || !alive {
		return false, err
	}
	return current == "" || current == boot, nil
}

// Heartbeat announces this node to the others of a cluster, with its boot
// ID (store.NodeHeartbeat): the caller runs it every
// store.HeartbeatInterval while the server runs.
func (s *Server) Heartbeat(ctx context.Context, now time.Time) error {
	return s.Store.NodeHeartbeat(ctx, s.NodeID, s.boot, now)
}

// endToken closes the digest session: its token opens nothing any more.
func endToken(sess *store.Session) {
	sess.TokenHash, sess.TokenExpires, sess.TokenNode, sess.TokenBoot = "", time.Time{}, "", ""
}
