package testpki

import (
	"crypto/tls"
	"sync"
)

// AnyNameSessionCache is a TLS client session cache that offers the one
// session it holds to whatever server name it dials: a client (or an
// attacker) carrying a ticket from one site to another, which a cache keyed
// by server name never does.
type AnyNameSessionCache struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

// Get returns the held session, whatever the name.
func (c *AnyNameSessionCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

// Put keeps cs (a nil cs, which crypto/tls passes to forget a session, is
// ignored: the session stays on offer).
func (c *AnyNameSessionCache) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs != nil {
		c.cs = cs
	}
}
