package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Sessions are a device's OMA-DM sessions that a later message may still
// continue, kept in one key (session.json). A device runs one session at a
// time, but in a cluster two messages of one device can race on two
// nodes (a retry on another node, a replayed session): each session keeps
// its own Sent map, so a Status always finds the command its session was
// sent, and a new session does not take back commands still in flight in
// another live one (see omadm's takeover rule).
type Sessions struct {
	Sessions []*Session `json:"sessions"`
}

// MaxSessions bounds the sessions kept per device; the least recently
// seen goes first.
const MaxSessions = 4

// Find returns the session with this ID, nil if none.
func (ss *Sessions) Find(sessionID string) *Session {
	for _, s := range ss.Sessions {
		if s.SessionID == sessionID {
			return s
		}
	}
	return nil
}

// Latest returns the most recently seen session, nil if none.
func (ss *Sessions) Latest() *Session {
	var latest *Session
	for _, s := range ss.Sessions {
		if latest == nil || s.LastSeen.After(latest.LastSeen) {
			latest = s
		}
	}
	return latest
}

// Put adds or replaces a session (by SessionID) and prunes: sessions
// ended or idle longer than idle go, but the most recent one stays (it
// says when the device was last seen); at most MaxSessions stay.
func (ss *Sessions) Put(s *Session, now time.Time, idle time.Duration) {
	kept := ss.Sessions[:0]
	for _, o := range ss.Sessions {
		if o.SessionID != s.SessionID {
			kept = append(kept, o)
		}
	}
	kept = append(kept, s)
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].LastSeen.After(kept[j].LastSeen) })
	out := kept[:1]
	for _, o := range kept[1:] {
		if len(out) == MaxSessions {
			break
		}
		if o == s || (!o.Ended && now.Sub(o.LastSeen) < idle) {
			out = append(out, o)
		}
	}
	ss.Sessions = append([]*Session(nil), out...)
}

// UnmarshalJSON reads the set, or a single session as stored before sets.
func (ss *Sessions) UnmarshalJSON(b []byte) error {
	var set struct {
		Sessions []*Session `json:"sessions"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return err
	}
	if set.Sessions == nil {
		var one Session
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		if one.SessionID != "" || !one.LastSeen.IsZero() {
			set.Sessions = []*Session{&one}
		}
	}
	for _, s := range set.Sessions {
		if s == nil {
			return fmt.Errorf("null session")
		}
	}
	ss.Sessions = set.Sessions
	return nil
}

// DeviceSessions returns a device's stored sessions (an empty set if none).
func (s *Store) DeviceSessions(ctx context.Context, id string) (*Sessions, error) {
	ss := &Sessions{}
	if _, err := s.loadJSON(ctx, sessionKey(id), ss); err != nil {
		return nil, err
	}
	return ss, nil
}

// PutDeviceSessions writes a device's sessions in one store.
func (s *Store) PutDeviceSessions(ctx context.Context, id string, ss *Sessions) error {
	return s.storeJSON(ctx, sessionKey(id), ss)
}

// Session returns the device's most recently seen session, or nil if none.
func (s *Store) Session(ctx context.Context, id string) (*Session, error) {
	ss, err := s.DeviceSessions(ctx, id)
	if err != nil {
		return nil, err
	}
	return ss.Latest(), nil
}

// PutSession writes sess as the device's only session (tools and tests;
// the OMA-DM server writes the set with PutDeviceSessions).
func (s *Store) PutSession(ctx context.Context, id string, sess *Session) error {
	return s.PutDeviceSessions(ctx, id, &Sessions{Sessions: []*Session{sess}})
}
