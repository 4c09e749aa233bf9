package omadm

import (
	"context"
	"sync"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// idleSessions holds the state of sessions that ended with nothing to keep
// but when the device was last seen: the common poll, a device checking in
// with nothing queued and nothing new to report. Writing it at once would
// cost a synchronous storage write per poll for a timestamp, so it waits
// here and FlushIdle writes it later, coalesced per device. Writes that
// correctness needs (acknowledged commands, a spent nonce, a session with
// commands in flight) stay synchronous. A session written synchronously
// drops the device's pending entry, so a flush never overwrites newer
// state; both happen under the device lock.
type idleSessions struct {
	mu      sync.Mutex
	pending map[string]*store.Session
}

func (i *idleSessions) put(deviceID string, s *store.Session) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.pending == nil {
		i.pending = map[string]*store.Session{}
	}
	i.pending[deviceID] = s
}

func (i *idleSessions) drop(deviceID string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.pending, deviceID)
}

// get returns a copy of the device's pending session, nil when none.
func (i *idleSessions) get(deviceID string) *store.Session {
	i.mu.Lock()
	defer i.mu.Unlock()
	s := i.pending[deviceID]
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

func (i *idleSessions) ids() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make([]string, 0, len(i.pending))
	for id := range i.pending {
		out = append(out, id)
	}
	return out
}

// quietEnd reports whether this exchange ends its session with nothing a
// later message or session needs: no command sent or in flight, no large
// object either way.
func (x *exchange) quietEnd() bool {
	return x.sessionEnds() && len(x.sess.Sent) == 0 && x.sess.Outgoing == nil && x.sess.Incoming == nil &&
		x.respToken == ""
}

// FlushIdle writes the sessions that ended quietly since the last flush
// (see idleSessions), each merged into the device's stored sessions under
// the device lock: one another node wrote since (a later session) is kept,
// and the pending one is dropped if the stored state is already newer.
// Call it periodically and at shutdown; until then another node sees the
// device's last-seen time up to that interval late, and nothing else.
func (s *Server) FlushIdle(ctx context.Context) error {
	var first error
	for _, id := range s.idle.ids() {
		unlock, err := s.Store.LockDeviceCtx(ctx, id)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if sess := s.idle.get(id); sess != nil {
			err := s.flushOne(ctx, id, sess)
			if err != nil && first == nil {
				first = err
			} else if err == nil {
				s.idle.drop(id)
			}
		}
		unlock()
	}
	return first
}

func (s *Server) flushOne(ctx context.Context, id string, sess *store.Session) error {
	stored, err := s.Store.DeviceSessions(ctx, id)
	if err != nil {
		return err
	}
	if l := stored.Latest(); l != nil && !l.LastSeen.Before(sess.LastSeen) {
		return nil
	}
	stored.Put(sess, s.Now(), s.SessionIdle)
	return s.Store.PutDeviceSessions(ctx, id, stored)
}

// sessions returns the device's sessions: the stored ones, with the one
// that ended quietly on this node and waits to be written put in.
func (s *Server) sessions(ctx context.Context, deviceID string) (*store.Sessions, error) {
	ss, err := s.Store.DeviceSessions(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	if p := s.idle.get(deviceID); p != nil {
		if o := ss.Find(p.SessionID); o == nil || o.LastSeen.Before(p.LastSeen) {
			ss.Put(p, s.Now(), s.SessionIdle)
		}
	}
	return ss, nil
}

// Session returns a device's latest session state: one that ended quietly
// and waits to be written, or the stored one (nil when none).
func (s *Server) Session(ctx context.Context, deviceID string) (*store.Session, error) {
	ss, err := s.sessions(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	return ss.Latest(), nil
}
