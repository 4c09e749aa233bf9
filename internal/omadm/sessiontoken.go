package omadm

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/randtext"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
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
// any node of a cluster: the node checks it under the device lock, against
// state every node reads. The hash opens nothing by itself (192 random
// bits), so storage readers learn no usable secret. The token expires after
// SessionIdle without a message and when the session ends.

// SessionTokenParam is the query parameter of the RespURI that carries the
// session token.
const SessionTokenParam = "dmsession"

// DefaultSessionIdle is how long a digest session stays open between two
// messages of the device.
const DefaultSessionIdle = 2 * time.Minute

// issueToken returns a fresh session token and binds sess to it until
// expires.
func issueToken(rand io.Reader, sess *store.Session, expires time.Time) (string, error) {
	token, err := randtext.Secret(rand, 24)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(token))
	sess.TokenHash, sess.TokenExpires = hex.EncodeToString(h[:]), expires
	return token, nil
}

// checkToken reports whether token opens sess at now, and if so extends it
// until expires.
func checkToken(sess *store.Session, token string, now, expires time.Time) bool {
	if token == "" || sess == nil || sess.TokenHash == "" || sess.Ended || !now.Before(sess.TokenExpires) {
		return false
	}
	h := sha256.Sum256([]byte(token))
	want, err := hex.DecodeString(sess.TokenHash)
	if err != nil || subtle.ConstantTimeCompare(h[:], want) != 1 {
		return false
	}
	sess.TokenExpires = expires
	return true
}

// endToken closes the digest session: its token opens nothing any more.
func endToken(sess *store.Session) { sess.TokenHash, sess.TokenExpires = "", time.Time{} }
