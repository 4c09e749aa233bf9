// Package lifecycle decides how a device leaves management, in one place
// for every way it happens: its user disconnects it (the unenrollment
// alert), an admin's Unenroll reaches it, an admin retires it, or the
// device or its hardware enrolls again. Each way ends the same: the device
// record says the new state and why, every pending command is finished as
// canceled with a reason that says what happened to it, and the OMA-DM
// session is forgotten. internal/store only stores what this decides.
package lifecycle

import (
	"context"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/events"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Why a device leaves management. Each names the resulting state.
type Departure struct {
	State  store.DeviceState
	Reason string
}

// Ways a device leaves.
func UserUnenrolled() Departure {
	return Departure{store.StateUnenrolled, "the user disconnected the device (unenrollment alert)"}
}

// AdminUnenrollDelivered is an admin's Unenroll put on the wire: Windows
// sends no status for it, so the device is gone once it is sent.
func AdminUnenrollDelivered() Departure {
	return Departure{store.StateRetired, "unenrolled by an admin (Unenroll delivered)"}
}

// Retired is an admin's retirement, with the admin's reason.
func Retired(reason string) Departure { return Departure{store.StateRetired, reason} }

// HardwareReEnrolled is a device whose hardware enrolled again under
// another DeviceID (a reset PC gets a new one).
func HardwareReEnrolled(newDeviceID string) Departure {
	return Departure{store.StateRetired, "the hardware re-enrolled as device " + newDeviceID}
}

// Leave applies d to a device and its queue in memory: the state, the
// reason and the time on the record, and every pending command not in
// keep finished as canceled, with a reason saying whether it had reached
// the device. It returns the canceled commands, which the caller stores
// as finished, and leaves q empty of them.
func Leave(dev *store.Device, q *store.Queue, d Departure, now time.Time, keep func(*store.Command) bool) []*store.Command {
	dev.State, dev.StateReason, dev.UpdatedAt = d.State, d.Reason, now
	var canceled []*store.Command
	rest := q.Commands[:0]
	for _, c := range q.Commands {
		if keep != nil && keep(c) {
			rest = append(rest, c)
			continue
		}
		c.Reason = "device " + string(d.State) + ": " + d.Reason
		if c.State == store.CommandSent {
			c.Reason = "sent, but the device left before answering (" + string(d.State) + ": " + d.Reason + ")"
		}
		c.State, c.DoneAt = store.CommandCanceled, now
		canceled = append(canceled, c)
	}
	q.Commands = rest
	return canceled
}

// ReEnrolled finishes the pending commands of a device ID that enrolls
// again (its record is replaced, not retired): they were meant for the
// device as it was configured before.
func ReEnrolled(q *store.Queue, now time.Time) []*store.Command {
	for _, c := range q.Commands {
		c.State, c.Reason, c.DoneAt = store.CommandCanceled, "device re-enrolled", now
	}
	canceled := q.Commands
	q.Commands = nil
	return canceled
}

// Service applies departures to stored devices: admin retirement and
// re-enrollment, outside an OMA-DM exchange (which applies Leave itself
// to what it holds).
type Service struct {
	Store *store.Store
	Now   func() time.Time
	// Events, when set, is told of the commands a departure canceled.
	Events events.Observer
}

// Retire takes a stored device out of management: the record, the
// canceled commands and the queue are written (store.FinishCommands: a
// crash leaves no command both finished and deliverable, and loses none)
// and the session forgotten. The caller holds the device lock.
func (s *Service) Retire(ctx context.Context, id string, d Departure) (*store.Device, error) {
	dev, err := s.Store.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	q, err := s.Store.Queue(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.finish(ctx, id, Leave(dev, q, d, s.Now(), nil), q); err != nil {
		return nil, err
	}
	if err := s.Store.PutDevice(ctx, dev); err != nil {
		return nil, err
	}
	return dev, s.Store.EndSession(ctx, id)
}

// ReplaceRecord prepares a device ID's stored state for a new enrollment:
// the earlier record goes to its history, its pending commands are
// canceled and its session forgotten. The caller holds the device lock and
// writes the new record after.
func (s *Service) ReplaceRecord(ctx context.Context, old *store.Device) error {
	now := s.Now()
	if err := s.Store.ArchiveDevice(ctx, old, now); err != nil {
		return err
	}
	q, err := s.Store.Queue(ctx, old.DeviceID)
	if err != nil {
		return err
	}
	if err := s.finish(ctx, old.DeviceID, ReEnrolled(q, now), q); err != nil {
		return err
	}
	return s.Store.EndSession(ctx, old.DeviceID)
}

func (s *Service) finish(ctx context.Context, id string, canceled []*store.Command, q *store.Queue) error {
	if len(canceled) == 0 {
		return nil
	}
	if err := s.Store.FinishCommands(ctx, id, q, canceled); err != nil {
		return err
	}
	events.Or(s.Events).Commands(events.CommandChange{Canceled: len(canceled)})
	return nil
}
