package store

import "sync"

// deviceLocks serializes work on one device within this process, so two
// sessions of a device (or a session and an admin change) never interleave
// their read-modify-write of the queue.
type deviceLocks struct {
	mu   sync.Mutex
	held map[string]*deviceLock
}

type deviceLock struct {
	sync.Mutex
	refs int
}

// LockDevice waits for the device's lock and returns its unlock function.
// Locks of different devices never wait for each other.
func (s *Store) LockDevice(id string) (unlock func()) {
	l := &s.locks
	l.mu.Lock()
	dl := l.held[id]
	if dl == nil {
		dl = &deviceLock{}
		l.held[id] = dl
	}
	dl.refs++
	l.mu.Unlock()
	dl.Lock()
	return func() {
		dl.Unlock()
		l.mu.Lock()
		if dl.refs--; dl.refs == 0 {
			delete(l.held, id)
		}
		l.mu.Unlock()
	}
}
