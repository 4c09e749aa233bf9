package omadm

import (
	"context"
	"strconv"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// repairQueue, at a new session, settles queue entries that a save cut
// short left behind (a storage failure or a crash between writing a
// command's finished record and the queue that drops it): a command sent
// and already finished is dropped, never sent again; one finished by an
// admin or a departure (store.FinishCommands: still in the queue in its
// final state) gets its record and is dropped. It costs one listing of the
// device's finished commands (bounded by store.MaxFinishedCommands), and
// only when the queue holds a command in flight or final.
func (x *exchange) repairQueue(ctx context.Context) error {
	suspect := false
	for _, c := range x.queue.Commands {
		if c.State == store.CommandSent || c.Done() {
			suspect = true
			break
		}
	}
	if !suspect {
		return nil
	}
	ids, err := x.s.Store.FinishedIDs(ctx, x.dev.DeviceID)
	if err != nil {
		return err
	}
	kept := x.queue.Commands[:0]
	for _, c := range x.queue.Commands {
		switch {
		case (c.State == store.CommandSent || c.Done()) && ids[c.ID]:
			x.report.Notes = append(x.report.Notes, "dropping "+c.ID+" from the queue: it was finished already (an earlier save was cut short)")
			x.queueDirty = true
			continue
		case c.Done():
			// save writes its record before the queue without it; the
			// profiles never settle what an admin or a departure ended.
			x.finished[c.ID] = c
			if x.fleet.settled == nil {
				x.fleet.settled = map[string]bool{}
			}
			x.fleet.settled[c.ID] = true
			x.queueDirty = true
			x.report.Notes = append(x.report.Notes, "finishing "+c.ID+" ("+string(c.State)+"): an earlier save was cut short")
		}
		kept = append(kept, c)
	}
	x.queue.Commands = kept
	return nil
}

// pruneFinished keeps the device's finished commands within
// store.MaxFinishedCommands once this message finished some. A failure
// only delays it to the next one: the message is answered all the same.
func (x *exchange) pruneFinished(ctx context.Context) {
	if n, err := x.s.Store.PruneFinished(ctx, x.dev.DeviceID); err != nil {
		x.report.Notes = append(x.report.Notes, "dropping old finished commands failed: "+err.Error())
	} else if n > 0 {
		x.report.Notes = append(x.report.Notes, "dropped the "+strconv.Itoa(n)+" oldest finished commands (at most "+strconv.Itoa(store.MaxFinishedCommands)+" are kept)")
	}
}
