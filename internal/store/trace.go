package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"
)

// Exchange is one request and its answer, secrets redacted, as kept in a
// device's trace.
type Exchange struct {
	At time.Time `json:"at"`
	// Kind is enrollment or management.
	Kind     string `json:"kind"`
	Status   int    `json:"status"`
	Request  string `json:"request"`
	Response string `json:"response"`
}

// Trace is the latest exchanges of a device, oldest first.
type Trace struct {
	Exchanges []Exchange `json:"exchanges"`
}

// A trace is a ring of per-exchange keys and a small head, so that
// recording an exchange writes that exchange and the head, never the
// whole trace again (rewriting it cost a third of a traced session's CPU):
//
//	mdm/devices/<id>/trace/head.json    where the ring stands (traceHead)
//	mdm/devices/<id>/trace/<slot>.json  one exchange (traceSlot), slot = seq mod ring
//
// Before this layout a trace was one key, mdm/devices/<id>/trace.json; it
// is still read while no head exists, and removed at the first write.
func traceDir(id string) string       { return deviceDir(id) + "/trace" }
func traceHeadKey(id string) string   { return traceDir(id) + "/head.json" }
func legacyTraceKey(id string) string { return deviceDir(id) + "/trace.json" }
func traceSlotKey(id string, slot int) string {
	return traceDir(id) + "/" + strconv.Itoa(slot) + ".json"
}

// traceHead says which exchanges of the ring are live: sequence numbers
// Next-len(Sizes) to Next-1, Sizes[i] the body bytes of each, so that the
// byte bound is kept without reading the exchanges.
type traceHead struct {
	// Next is the sequence number the next exchange gets.
	Next int64 `json:"next"`
	// Ring is the number of slots (the keep the ring was made with).
	Ring int `json:"ring"`
	// Sizes are the request+response bytes of the live exchanges, oldest
	// first.
	Sizes []int `json:"sizes"`
}

// traceSlot is one recorded exchange and its sequence number (a reader
// skips a slot whose number is not the one the head expects there: an
// exchange written by a writer that stopped before updating the head).
type traceSlot struct {
	Seq      int64    `json:"seq"`
	Exchange Exchange `json:"exchange"`
}

// Bounds of a device's trace: each body is cut to MaxTraceBody bytes and
// the exchanges kept hold at most MaxTraceBytes of bodies, dropping the
// oldest, so that a trace stays small whatever a device sends.
const (
	MaxTraceBody  = 32 << 10
	MaxTraceBytes = 512 << 10
)

// AppendTrace adds an exchange to a device's trace, keeping the last keep
// within MaxTraceBytes.
func (s *Store) AppendTrace(ctx context.Context, id string, ex Exchange, keep int) error {
	unlock := s.LockDevice(id)
	defer unlock()
	return s.AppendTraceLocked(ctx, id, ex, keep)
}

// AppendTraceLocked is AppendTrace for a caller that holds the device lock
// (an OMA-DM exchange records itself before it lets go of the device). It
// writes the new exchange's slot and the head: two small keys whatever
// the trace holds.
func (s *Store) AppendTraceLocked(ctx context.Context, id string, ex Exchange, keep int) error {
	if !ValidDeviceID(id) {
		return fmt.Errorf("invalid device ID %q", id)
	}
	keep = max(keep, 1)
	ex.Request, ex.Response = cutBody(ex.Request), cutBody(ex.Response)
	var h traceHead
	found, err := s.loadJSON(ctx, traceHeadKey(id), &h)
	if err != nil {
		return err
	}
	if !found {
		// First write in this layout: the one-key trace of before goes.
		if err := s.storage.Delete(ctx, legacyTraceKey(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the old trace of %s: %w", id, unavailable(err))
		}
	}
	if h.Ring != keep {
		// A new ring (or keep changed): the live exchanges are dropped
		// rather than renumbered; a trace is for diagnosis, not a record.
		if err := s.dropTraceSlots(ctx, id, h); err != nil {
			return err
		}
		h = traceHead{Next: h.Next, Ring: keep}
	}
	// Make room: at most keep exchanges, at most MaxTraceBytes of bodies.
	size := len(ex.Request) + len(ex.Response)
	total := size
	for _, n := range h.Sizes {
		total += n
	}
	for len(h.Sizes) > 0 && (len(h.Sizes) >= keep || total > MaxTraceBytes) {
		oldest := h.Next - int64(len(h.Sizes))
		total -= h.Sizes[0]
		h.Sizes = h.Sizes[1:]
		if oldest%int64(keep) != h.Next%int64(keep) {
			// Dropped, and not overwritten by the new exchange below.
			if err := s.storage.Delete(ctx, traceSlotKey(id, int(oldest%int64(keep)))); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("trimming the trace of %s: %w", id, unavailable(err))
			}
		}
	}
	seq := h.Next
	if err := s.storeJSON(ctx, traceSlotKey(id, int(seq%int64(keep))), traceSlot{Seq: seq, Exchange: ex}); err != nil {
		return err
	}
	h.Next++
	h.Sizes = append(append([]int(nil), h.Sizes...), size)
	return s.storeJSON(ctx, traceHeadKey(id), h)
}

// dropTraceSlots deletes the live slots a head names.
func (s *Store) dropTraceSlots(ctx context.Context, id string, h traceHead) error {
	if h.Ring <= 0 {
		return nil
	}
	for seq := h.Next - int64(len(h.Sizes)); seq < h.Next; seq++ {
		if err := s.storage.Delete(ctx, traceSlotKey(id, int(seq%int64(h.Ring)))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("resetting the trace of %s: %w", id, unavailable(err))
		}
	}
	return nil
}

// cutBody shortens a traced body to MaxTraceBody bytes, saying so.
func cutBody(b string) string {
	if len(b) <= MaxTraceBody {
		return b
	}
	cut := MaxTraceBody
	for cut > 0 && b[cut]&0xC0 == 0x80 {
		cut--
	}
	return b[:cut] + fmt.Sprintf("\n…[cut: %d bytes in all]", len(b))
}

// Trace returns a device's trace, oldest first (empty when none was kept).
func (s *Store) Trace(ctx context.Context, id string) (*Trace, error) {
	t := &Trace{Exchanges: []Exchange{}}
	if !ValidDeviceID(id) {
		return t, nil
	}
	var h traceHead
	found, err := s.loadJSON(ctx, traceHeadKey(id), &h)
	if err != nil {
		return nil, err
	}
	if !found {
		if _, err := s.loadJSON(ctx, legacyTraceKey(id), t); err != nil {
			return nil, err
		}
		return t, nil
	}
	if h.Ring <= 0 {
		return t, nil
	}
	for seq := h.Next - int64(len(h.Sizes)); seq < h.Next; seq++ {
		var slot traceSlot
		found, err := s.loadJSON(ctx, traceSlotKey(id, int(seq%int64(h.Ring))), &slot)
		if err != nil {
			return nil, err
		}
		if found && slot.Seq == seq {
			t.Exchanges = append(t.Exchanges, slot.Exchange)
		}
	}
	return t, nil
}
