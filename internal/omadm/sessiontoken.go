package omadm

import (
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"sync"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/randtext"
)

// A digest-authenticated session is bound to a secret the server hands only
// to the peer that proved the digest: an unguessable token carried in the
// RespURI of every reply (OMA DM 1.2: the client sends its next message of
// the session to the RespURI of the last reply). A message of that session
// without the token is not the device's, whatever DeviceID and SessionID it
// names. Tokens live in memory only, so no session outlives a restart; they
// expire after an idle time and end with the session.

// SessionTokenParam is the query parameter of the RespURI that carries the
// session token.
const SessionTokenParam = "dmsession"

// DefaultSessionIdle is how long a digest session stays open between two
// messages of the device.
const DefaultSessionIdle = 2 * time.Minute

// maxSessionTokens bounds the open digest sessions kept; past it the
// session idle longest is dropped (its device authenticates again).
const maxSessionTokens = 100000

type sessionToken struct {
	sessionID string
	hash      [sha256.Size]byte
	expires   time.Time
}

// sessionTokens holds the open digest sessions: DeviceID → token.
type sessionTokens struct {
	mu   sync.Mutex
	open map[string]sessionToken
	max  int
}

func newSessionTokens() *sessionTokens {
	return &sessionTokens{open: map[string]sessionToken{}, max: maxSessionTokens}
}

// issue opens (or reopens) the session of a device and returns its token.
func (t *sessionTokens) issue(rand io.Reader, deviceID, sessionID string, expires time.Time) (string, error) {
	token, err := randtext.Secret(rand, 24)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.open[deviceID]; !ok && len(t.open) >= t.max {
		t.evict(expires)
	}
	t.open[deviceID] = sessionToken{sessionID: sessionID, hash: sha256.Sum256([]byte(token)), expires: expires}
	return token, nil
}

// evict drops expired sessions, and the oldest one if none had expired.
// It runs only when the table is full.
func (t *sessionTokens) evict(now time.Time) {
	oldest, oldestAt := "", time.Time{}
	for id, s := range t.open {
		if !now.Before(s.expires) {
			delete(t.open, id)
			continue
		}
		if oldest == "" || s.expires.Before(oldestAt) {
			oldest, oldestAt = id, s.expires
		}
	}
	if len(t.open) >= t.max && oldest != "" {
		delete(t.open, oldest)
	}
}

// check reports whether token opens the device's current session at now,
// and if so extends it until expires.
func (t *sessionTokens) check(deviceID, sessionID, token string, now, expires time.Time) bool {
	if token == "" {
		return false
	}
	h := sha256.Sum256([]byte(token))
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.open[deviceID]
	if !ok || s.sessionID != sessionID || !now.Before(s.expires) {
		return false
	}
	if subtle.ConstantTimeCompare(h[:], s.hash[:]) != 1 {
		return false
	}
	s.expires = expires
	t.open[deviceID] = s
	return true
}

// end closes the device's session: its token opens nothing any more.
func (t *sessionTokens) end(deviceID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.open, deviceID)
}
