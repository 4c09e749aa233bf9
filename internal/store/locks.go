package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Work on one device (an OMA-DM message, an enrollment, an admin change)
// is serialized at two levels:
//
//   - in process, by a mutex per device, so that the goroutines of one node
//     queue behind each other without touching the storage;
//   - across nodes, by the storage's own Lock/Unlock on "mdm/devices/<ID>",
//     taken by whichever goroutine holds the mutex. With Redis
//     (caddy-storage-redis) that is one SET NX PX (5 s TTL, refreshed every
//     3 s while held) and one release script: two round trips, about
//     0.2 ms, when nobody else holds it. A node that waits polls once a
//     second, which only happens when two nodes serve the same device at
//     the same instant. A node that dies holding it leaves a key that
//     expires within the 5 s TTL: a stale lock delays the device, never
//     blocks it.
//
// The wait is bounded by LockWait: past it the work is refused with
// ErrUnavailable (HTTP 503, Retry-After) rather than queued forever.

// LockWait bounds how long LockDeviceCtx waits for another holder of a
// device's cluster lock: longer than a dead node's lock lives (5 s with
// Redis) plus one poll, far longer than one message takes.
const LockWait = 15 * time.Second

// deviceLocks serializes work on one device within this process, so two
// sessions of a device (or a session and an admin change) never interleave
// their read-modify-write of the queue.
type deviceLocks struct {
	mu   sync.Mutex
	held map[string]*deviceLock
}

// deviceLock is a one-slot semaphore rather than a mutex, so that a wait
// can end with the request's context or LockWait: work that nests two
// devices' locks (an enrollment retiring the identity its hardware had)
// could otherwise wait forever on another that nests them the other way.
type deviceLock struct {
	slot chan struct{}
	refs int
}

// lockLocal waits for the device's in-process lock, at most LockWait and
// no longer than ctx.
func (s *Store) lockLocal(ctx context.Context, id string) (unlock func(), err error) {
	l := &s.locks
	l.mu.Lock()
	dl := l.held[id]
	if dl == nil {
		dl = &deviceLock{slot: make(chan struct{}, 1)}
		l.held[id] = dl
	}
	dl.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if dl.refs--; dl.refs == 0 {
			delete(l.held, id)
		}
		l.mu.Unlock()
	}
	timer := time.NewTimer(LockWait)
	defer timer.Stop()
	select {
	case dl.slot <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	case <-timer.C:
		release()
		return nil, fmt.Errorf("%w: device %s stayed locked in this process for %v", ErrUnavailable, id, LockWait)
	}
	return func() {
		<-dl.slot
		release()
	}, nil
}

func deviceLockName(id string) string { return devicesPrefix + "/" + id }

// LockDeviceCtx waits for the device's lock, in this process and (with
// distributed locks on, see SetDistributedLocks) across every node sharing
// the storage, and returns its unlock function. Locks of different devices
// never wait for each other. It fails with ErrUnavailable when the storage
// cannot be reached or another node holds the lock past LockWait; the
// caller then writes nothing.
func (s *Store) LockDeviceCtx(ctx context.Context, id string) (unlock func(), err error) {
	local, err := s.lockLocal(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.distributed {
		return local, nil
	}
	wctx, cancel := context.WithTimeout(ctx, LockWait)
	defer cancel()
	name := deviceLockName(id)
	if err := s.storage.Lock(wctx, name); err != nil {
		local()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: device lock %s: %w", ErrUnavailable, id, err)
	}
	return func() {
		// Unlock even if the request's context has ended; if the storage is
		// gone, the lock expires on its own (its TTL).
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = s.storage.Unlock(uctx, name)
		cancel()
		local()
	}, nil
}

// LockDevice is LockDeviceCtx for callers that cannot fail: if the
// cluster lock cannot be had, it holds only the in-process lock, waiting
// for it as long as it takes. Prefer LockDeviceCtx wherever an error can
// be answered.
func (s *Store) LockDevice(id string) (unlock func()) {
	for {
		if u, err := s.LockDeviceCtx(context.Background(), id); err == nil {
			return u
		}
		if u, err := s.lockLocal(context.Background(), id); err == nil {
			return u
		}
	}
}

// SetDistributedLocks turns the cluster-wide device lock on or off. New
// turns it on for every storage but Caddy's file system storage, which is
// taken to be one node's (its lock files poll at one-second granularity;
// for a cluster, use a shared storage module such as Redis).
func (s *Store) SetDistributedLocks(on bool) { s.distributed = on }

// DistributedLocks reports whether device locks span the cluster.
func (s *Store) DistributedLocks() bool { return s.distributed }
