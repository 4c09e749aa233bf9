package omadm

import (
	"context"
	"time"
)

// When a device starts a new session, the commands an earlier session sent
// without getting a status back are sent again (at least once): a device
// runs one session at a time, so a new one means the earlier one died.
//
// In a cluster a second session of the device may run at the same time on
// another node (a retry through the load balancer, a replay). Taking its
// commands back would deliver them twice. So a new session leaves alone
// the commands in flight in another session that is still live: not
// ended, served by another node that is alive (its heartbeat, see
// store.Heartbeat), and heard from within SessionTakeover. Such a session
// acknowledges its own commands; if it goes quiet, the device's next
// session takes them back. A session served by this node, or by a node
// that died (kill -9: its heartbeat stops within store.NodeTimeout), gives
// its commands back at once, as on a single node.

// DefaultSessionTakeover is how long a live session on another node keeps
// its commands after its latest message. Windows answers a server message
// within seconds and retries a failed session after 30 s or more, so a
// real device's next session always finds the earlier one expired.
const DefaultSessionTakeover = 10 * time.Second

// inFlightElsewhere returns the IDs of the commands another live session of
// the device has in flight.
func (x *exchange) inFlightElsewhere(ctx context.Context) map[string]bool {
	var out map[string]bool
	alive := map[string]bool{}
	for _, o := range x.sessions.Sessions {
		if o.SessionID == x.sess.SessionID || o.Ended || len(o.Sent) == 0 ||
			o.Node == "" || o.Node == x.s.NodeID || x.now.Sub(o.LastSeen) >= x.s.SessionTakeover {
			continue
		}
		up, checked := alive[o.Node]
		if !checked {
			up = x.s.Store.NodeAlive(ctx, o.Node, x.now)
			alive[o.Node] = up
		}
		if !up {
			continue
		}
		if out == nil {
			out = map[string]bool{}
		}
		for _, ref := range o.Sent {
			out[ref.CommandID] = true
		}
	}
	return out
}
