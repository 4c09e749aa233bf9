package omadm

import (
	"context"
	"strconv"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/lifecycle"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// exchange is the processing of one device message.
type exchange struct {
	s   *Server
	msg *syncml.Message
	req Request
	now time.Time

	dev  *store.Device
	sess *store.Session
	// sessions are the device's stored sessions, sess among them once saved.
	sessions   *store.Sessions
	newSession bool
	queue      *store.Queue
	inv        *store.Inventory

	hdrStatus syncml.Status
	hdrChal   *syncml.Meta
	// sendCred adds server credentials (CLIENT digest) to the reply.
	sendCred bool
	// respToken is the token of a digest session, carried in the RespURI.
	respToken string

	statuses []*syncml.Command
	// askMore asks the device for the rest of its package (Alert 1222).
	askMore bool
	// finished are commands that reached a final state in this message.
	finished map[string]*store.Command
	// archived are finished commands of earlier messages, loaded when the
	// device refers to them again.
	archived map[string]*store.Command
	// carried is the large object the session held when the message came
	// (results.go).
	carried *store.Incoming

	ctx                                           context.Context
	devDirty, invDirty, queueDirty, archivedDirty bool
	// fleet is the exchange's fleet-management work (profiles.go).
	fleet  fleetWork
	report Report
}

// loadSession loads the stored session and decides whether this message
// starts a new one: no stored session, another SessionID, or MsgID 1.
func (x *exchange) loadSession(ctx context.Context) error {
	sessions, err := x.s.sessions(ctx, x.dev.DeviceID)
	if err != nil {
		return err
	}
	x.sessions = sessions
	h := x.msg.Header
	sess := sessions.Find(h.SessionID)
	if sess == nil || h.MsgID == "1" {
		x.newSession = true
		sess = &store.Session{SessionID: h.SessionID, StartedAt: x.now}
	}
	sess.Node = x.s.NodeID
	sess.LastSeen, sess.LastMsgID = x.now, h.MsgID
	if m := h.Meta; m != nil {
		if n := atoi(m.MaxMsgSize); n > 0 {
			sess.MaxMsgSize = n
		}
		if n := atoi(m.MaxObjSize); n > 0 {
			sess.MaxObjSize = n
		}
	}
	if sess.Sent == nil {
		sess.Sent = map[store.SentKey]store.SentRef{}
	}
	x.sess = sess
	x.report.NewSession = x.newSession
	return nil
}

// load reads the queue and inventory, and at a new session puts back into
// the queue what an earlier session sent without an answer (at least once).
func (x *exchange) load(ctx context.Context) error {
	var err error
	if x.queue, err = x.s.Store.Queue(ctx, x.dev.DeviceID); err != nil {
		return err
	}
	if x.inv, err = x.s.Store.Inventory(ctx, x.dev.DeviceID); err != nil {
		return err
	}
	if x.newSession {
		if err := x.repairQueue(ctx); err != nil {
			return err
		}
		inFlight := x.inFlightElsewhere(ctx)
		for _, c := range x.queue.Commands {
			if c.State == store.CommandSent && inFlight[c.ID] {
				x.report.Notes = append(x.report.Notes, "leaving "+c.ID+" to the session in flight on another node")
				continue
			}
			if c.State == store.CommandSent {
				c.State = store.CommandQueued
				x.queueDirty = true
				x.report.Notes = append(x.report.Notes, "resending "+c.ID+": its earlier session ended without a status")
			}
		}
	}
	return nil
}

// apply handles the device's commands in order.
func (x *exchange) apply() {
	if d := &x.dev.Digest; x.newSession && d.ClientNextNonce != "" {
		// The nonce the device gave during its last session is the one
		// for this session.
		d.ClientNonce, d.ClientNextNonce = d.ClientNextNonce, ""
		x.devDirty = true
	}
	x.carried = x.sess.Incoming
	for _, c := range x.msg.Commands {
		x.report.Received = append(x.report.Received, describe(c))
		switch c.Name {
		case syncml.CmdStatus:
			x.applyStatus(c)
		case syncml.CmdResults:
			x.applyResults(c)
		case syncml.CmdAlert:
			x.applyAlert(c)
		case syncml.CmdReplace, syncml.CmdAdd:
			x.applyInventory(c)
		default:
			// A device has no business sending Get, Exec, Delete, Atomic...
			x.status(c, syncml.StatusOptionalNotSupp)
		}
	}
	if !x.msg.Final && !x.hasAlert(syncml.AlertNextMessage) {
		// The device's package goes on: ask for its next message.
		x.askMore = true
	}
}

// status answers one device command.
func (x *exchange) status(c *syncml.Command, code syncml.Status) {
	if c.NoResp {
		return
	}
	x.statuses = append(x.statuses, &syncml.Command{
		Name:   syncml.CmdStatus,
		MsgRef: x.msg.Header.MsgID,
		CmdRef: c.CmdID,
		Cmd:    c.Name,
		Data:   code.String(),
	})
}

func (x *exchange) hasAlert(code string) bool {
	for _, c := range x.msg.Commands {
		if c.Name == syncml.CmdAlert && c.Data == code {
			return true
		}
	}
	return false
}

// applyStatus takes the device's answer to one of our commands, or to our
// SyncHdr (where the device may challenge the server, P13).
func (x *exchange) applyStatus(c *syncml.Command) {
	code := syncml.StatusOf(c)
	if c.CmdRef == "0" || c.Cmd == syncml.CmdSyncHdr {
		next := ""
		if c.Chal != nil {
			next = c.Chal.NextNonce
		}
		if code == syncml.StatusInvalidCredentials || code == syncml.StatusMissingCredentials {
			if next != "" {
				x.dev.Digest.ClientNonce, x.dev.Digest.ClientNextNonce = next, ""
			}
			x.dev.Digest.ClientChallenged = true
			x.devDirty = true
			x.sendCred = true
			// The device did not accept that message: what it carried is sent again.
			x.requeueMessage(c.MsgRef)
			x.report.Notes = append(x.report.Notes, "device challenged the server; answering with credentials")
		} else if (code == syncml.StatusOK || code == syncml.StatusAuthAccepted) && next != "" && next != x.dev.Digest.ClientNextNonce {
			// Accepted, with the nonce the server is to prove itself over
			// in the device's next session (renewed every session).
			x.dev.Digest.ClientNextNonce = next
			x.devDirty = true
			x.report.Notes = append(x.report.Notes, "device gave the server's nonce for its next session")
		}
		return
	}
	key := store.SentKey{MsgID: c.MsgRef, CmdID: c.CmdRef}
	ref, ok := x.sess.Sent[key]
	if !ok {
		x.report.Notes = append(x.report.Notes, "status for unknown command "+key.String())
		return
	}
	cmd := x.command(ref.CommandID)
	if cmd == nil {
		x.report.Notes = append(x.report.Notes, "status for a command no longer pending: "+ref.CommandID)
		return
	}
	switch {
	case ref.Chunk && code == syncml.StatusChunkAccepted:
		// The next chunk goes out with this reply.
	case ref.Child >= 0:
		for len(cmd.ChildStatuses) <= ref.Child {
			cmd.ChildStatuses = append(cmd.ChildStatuses, 0)
		}
		cmd.ChildStatuses[ref.Child] = int(code)
		x.touch(cmd)
	default:
		if ref.Chunk && x.sess.Outgoing != nil && x.sess.Outgoing.CommandID == cmd.ID {
			x.sess.Outgoing = nil // a refused chunk ends the object
		}
		x.finish(cmd, code, "")
	}
}

// requeueMessage puts the commands of one of our messages back in the queue.
func (x *exchange) requeueMessage(msgRef string) {
	for key, ref := range x.sess.Sent {
		if key.MsgID == msgRef {
			delete(x.sess.Sent, key)
			if cmd := x.pending(ref.CommandID); cmd != nil && cmd.State == store.CommandSent {
				cmd.State = store.CommandQueued
				x.queueDirty = true
			}
		}
	}
	// A large object in flight starts over.
	x.sess.Outgoing = nil
}

// applyResults stores the data a device returns for a Get.
func (x *exchange) applyResults(c *syncml.Command) {
	msgRef := c.MsgRef
	if msgRef == "" {
		// Without MsgRef, Results answer our previous message.
		msgRef = strconv.Itoa(atoi(x.msg.Header.MsgID) - 1)
	}
	key := store.SentKey{MsgID: msgRef, CmdID: c.CmdRef}
	for _, it := range c.Items {
		switch code := x.receiveChunk(c, it, msgRef); code {
		case 0:
		case syncml.StatusChunkAccepted:
			// Results get a Status only while they come in chunks.
			x.status(c, code)
			continue
		default:
			x.status(c, code)
			return
		}
		var cmd *store.Command
		if ref, found := x.sess.Sent[key]; found {
			cmd = x.command(ref.CommandID)
		}
		if cmd == nil {
			x.report.Notes = append(x.report.Notes, "results for unknown command "+key.String())
			return
		}
		r := result(c, it)
		if code := x.admitResult(cmd, r); code != 0 {
			x.status(c, code)
			return
		}
		x.noteOSVersion(r)
		x.touch(cmd)
	}
}

// osVersionURI is the node of the build a device runs.
const osVersionURI = "./DevDetail/SwV"

// noteOSVersion keeps in the record the build a device reports, from any
// Get of ./DevDetail/SwV: the os: label (and a profile's retry after an OS
// update) follow it.
func (x *exchange) noteOSVersion(r store.Result) {
	if r.Source != osVersionURI || !store.ValidOSVersion(r.Data) || r.Data == x.dev.OSVersion {
		return
	}
	x.report.Notes = append(x.report.Notes, "OS version "+x.dev.OSVersion+" → "+r.Data)
	x.dev.OSVersion = r.Data
	x.devDirty = true
}

func result(c *syncml.Command, it *syncml.Item) store.Result {
	m := syncml.ItemMeta(c, it)
	r := store.Result{Source: it.Source, Data: it.Data, Format: m.Format, Type: m.Type}
	if r.Source == "" {
		r.Source = it.Target
	}
	return r
}

// applyAlert handles session, client event and generic alerts.
func (x *exchange) applyAlert(c *syncml.Command) {
	var refused refusals
	switch c.Data {
	case syncml.AlertClientInitiated, syncml.AlertServerInitiated, syncml.AlertNextMessage, syncml.AlertSessionAbort:
	case syncml.AlertClientEvent:
		// A state (LoginStatus: who is logged in), kept as its latest value.
		for _, it := range c.Items {
			typ := ""
			if it.Meta != nil {
				typ = it.Meta.Type
			}
			if isAADUserTokenType(typ) {
				x.applyAADUserToken(it.Data) // a credential: never kept as is
				continue
			}
			if changed, err := x.inv.SetEventValue(typ, it.Data); err != nil {
				refused.add(it, syncml.StatusEntityTooLarge, err)
			} else if changed {
				x.changedInventory()
			}
		}
	default:
		// Generic alerts are events: kept as a bounded history.
		for _, it := range c.Items {
			a := store.AlertRecord{Code: c.Data, Data: it.Data, At: x.now}
			if it.Meta != nil {
				a.Type = it.Meta.Type
			}
			if c.Data == syncml.AlertGeneric && a.Type == UnenrollmentAlertType {
				x.leave(lifecycle.UserUnenrolled())
			}
			if err := x.inv.AddAlert(a); err != nil {
				refused.add(it, syncml.StatusEntityTooLarge, err)
				continue
			}
			x.changedInventory()
		}
	}
	x.statusItems(c, syncml.StatusOK, &refused)
}

// UnenrollmentAlertType is the generic alert a device sends when its user
// disconnects it from management.
const UnenrollmentAlertType = "com.microsoft:mdm.unenrollment.userrequest"

// leave takes the device out of management in this exchange, as the
// lifecycle rules say; what the exchange already finished stays finished.
func (x *exchange) leave(d lifecycle.Departure) {
	canceled := lifecycle.Leave(x.dev, x.queue, d, x.now, func(c *store.Command) bool { return x.finished[c.ID] != nil })
	for _, c := range canceled {
		x.finished[c.ID] = c
	}
	x.devDirty, x.queueDirty = true, true
	x.report.Unenrolled = true
}

// applyInventory keeps what a device reports with Replace or Add
// (./DevInfo/* in package 1).
func (x *exchange) applyInventory(c *syncml.Command) {
	code := syncml.StatusOK
	var refused refusals
	for _, it := range c.Items {
		if chunk := x.receiveChunk(c, it, ""); chunk != 0 {
			code = chunk
			continue
		}
		uri := it.Source
		if uri == "" {
			uri = it.Target
		}
		if uri == "" {
			code = syncml.StatusBadRequest
			continue
		}
		if changed, err := x.inv.SetNode(uri, it.Data); err != nil {
			refused.add(it, syncml.StatusEntityTooLarge, err)
		} else if changed {
			x.changedInventory()
		}
	}
	x.statusItems(c, code, &refused)
}

// changedInventory marks the inventory for writing; unchanged reports
// (the same DevInfo every session) cost no write.
func (x *exchange) changedInventory() {
	x.inv.UpdatedAt = x.now
	x.invDirty = true
}

// describe names a device command for the log.
func describe(c *syncml.Command) string {
	s := c.Name
	switch c.Name {
	case syncml.CmdAlert:
		s += " " + c.Data
		if len(c.Items) > 0 && c.Items[0].Meta != nil && c.Items[0].Meta.Type != "" {
			s += " " + c.Items[0].Meta.Type
		}
	case syncml.CmdStatus:
		s += " " + c.Data + " for " + c.Cmd + " " + c.MsgRef + ":" + c.CmdRef
	case syncml.CmdResults:
		s += " for " + c.MsgRef + ":" + c.CmdRef
	default:
		for i, it := range c.Items {
			if i == 3 {
				s += " ..."
				break
			}
			if it.Source != "" {
				s += " " + it.Source
			} else {
				s += " " + it.Target
			}
		}
	}
	return s
}
