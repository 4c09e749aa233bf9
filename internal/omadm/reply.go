package omadm

import (
	"context"
	"encoding/base64"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/caddy-mdm/caddy-mdm/internal/lifecycle"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

// replyMessage is the reply's header: the device's SessionID and MsgID
// echoed, Target the device, Source the server URL, and the server's
// credentials once the device has asked for them, in answer to an
// authenticated message only: a refusal (401, 403, 407, a malformed or
// unknown device's message) carries none, or anyone naming a DeviceID
// would get a replayable server digest over the device's nonce.
func (x *exchange) replyMessage() *syncml.Message {
	h := x.msg.Header
	m := &syncml.Message{Header: syncml.Header{
		VerDTD: syncml.VerDTD, VerProto: syncml.VerProto,
		SessionID: h.SessionID, MsgID: h.MsgID,
		Target: h.Source, Source: x.req.ServerURL,
	}}
	if x.respToken != "" {
		m.Header.RespURI = x.respURI()
	}
	if x.dev != nil && x.report.Auth != "" && (x.sendCred || x.dev.Digest.ClientChallenged) {
		if nonce, err := decodeNonce(x.dev.Digest.ClientNonce); err == nil {
			m.Header.Cred = &syncml.Cred{
				Type: syncml.AuthMD5, Format: syncml.FormatB64,
				Data: Digest(x.s.ProviderID, x.dev.Digest.ClientSecret, nonce),
			}
		}
	}
	return m
}

// respURI is the management URL with the device's query parameters and the
// session token: where the device sends the rest of a digest session.
func (x *exchange) respURI() string {
	q := url.Values{}
	for k, v := range x.req.Query {
		if k != SessionTokenParam {
			q[k] = v
		}
	}
	q.Set(SessionTokenParam, x.respToken)
	return x.req.ServerURL + "?" + q.Encode()
}

// sessionEnds reports whether the reply closes the session: the device's
// package was final and the server's reply carries nothing but statuses.
func (x *exchange) sessionEnds() bool {
	return x.report.Final && len(x.report.Sent) == 0 && !x.askMore
}

// headerStatus is the Status for the device's SyncHdr, always first. It
// carries no TargetRef or SourceRef: MS-MDM §2.2.6.1 forbids them on a
// single Status, Microsoft's example omits them, and so did the server a
// real Windows 10 PC accepted (integration/device-evidence.md).
func (x *exchange) headerStatus(code syncml.Status, chal *syncml.Meta) *syncml.Command {
	h := x.msg.Header
	return &syncml.Command{
		Name: syncml.CmdStatus, CmdID: "1",
		MsgRef: h.MsgID, CmdRef: "0", Cmd: syncml.CmdSyncHdr,
		Chal: chal, Data: code.String(),
	}
}

// reply builds the answer: SyncHdr status, a status per device command, then
// (once the device's package is final) queued commands up to the message
// size, and Final when nothing is left for this package.
func (x *exchange) reply() []byte {
	m := x.replyMessage()
	m.Commands = []*syncml.Command{x.headerStatus(x.hdrStatus, x.hdrChal)}
	next := 2
	for _, st := range x.statuses {
		st.CmdID = strconv.Itoa(next)
		next++
		m.Commands = append(m.Commands, st)
	}
	m.Final = true
	switch {
	case x.hasAlert(syncml.AlertSessionAbort):
		// The device ends the session (1223, SESSION ABORT): the reply
		// answers what it sent and asks nothing; a large object being sent
		// ends with it, and what was sent without a status goes out again
		// in the next session.
		x.sess.Outgoing, x.sess.Incoming = nil, nil
		x.report.Notes = append(x.report.Notes, "device aborted the session (Alert 1223)")
	case x.askMore:
		m.Commands = append(m.Commands, &syncml.Command{Name: syncml.CmdAlert, CmdID: strconv.Itoa(next), Data: syncml.AlertNextMessage})
		m.Final = false
	case x.dev.State == store.StateEnrolled:
		m.Final = !x.dispatch(m, &next)
	}
	x.report.HeaderStatus = x.hdrStatus
	x.report.Final = m.Final
	x.sensitiveResults()
	return syncml.Marshal(m)
}

// SensitiveCmdIDs names the commands of an exchange whose item data is
// secret, for trace.SyncML: by CmdID, as each message numbers its own.
type SensitiveCmdIDs struct {
	// Request are the device's Results answering a sensitive command.
	Request []string
	// Reply are the sensitive commands sent in the reply (a chunk of one
	// included).
	Reply []string
}

// sensitiveResults notes the device's Results that answer a sensitive
// command, matched as applyResults matches them.
func (x *exchange) sensitiveResults() {
	for _, c := range x.msg.Commands {
		if c.Name != syncml.CmdResults {
			continue
		}
		msgRef := c.MsgRef
		if msgRef == "" {
			msgRef = strconv.Itoa(atoi(x.msg.Header.MsgID) - 1)
		}
		ref, ok := x.sess.Sent[store.SentKey{MsgID: msgRef, CmdID: c.CmdRef}]
		if !ok {
			continue
		}
		if cmd := x.command(ref.CommandID); cmd != nil && trace.SensitiveSpec(&cmd.Spec) {
			x.report.Sensitive.Request = append(x.report.Sensitive.Request, c.CmdID)
		}
	}
}

// dispatch appends queued commands to m while they fit in the device's
// MaxMsgSize, splitting into chunks an object too large for one message. It
// reports whether anything is left for a further message of this package.
func (x *exchange) dispatch(m *syncml.Message, next *int) (more bool) {
	limit := x.sess.MaxMsgSize
	if limit == 0 {
		limit = x.s.MaxMsgSize
	}
	// Sizes are only measured against a limit: without one (the usual
	// case) nothing is marshaled twice.
	used := 0
	if limit > 0 {
		used = len(syncml.Marshal(m)) + len("<Final/>")
	}
	fits := func(n int) bool { return limit == 0 || used+n <= limit }
	sizeOf := func(c *syncml.Command) int {
		if limit == 0 {
			return 0
		}
		return syncml.Size(c)
	}
	sentAny := false
	for _, cmd := range append([]*store.Command(nil), x.queue.Commands...) {
		resuming := x.sess.Outgoing != nil && x.sess.Outgoing.CommandID == cmd.ID
		if cmd.State != store.CommandQueued && !resuming {
			continue
		}
		if !resuming && x.holdForUser(cmd) {
			continue
		}
		if x.sess.MaxObjSize > 0 && objectSize(&cmd.Spec) > x.sess.MaxObjSize {
			x.finish(cmd, syncml.StatusEntityTooLarge, "data larger than the device's MaxObjSize")
			continue
		}
		wire, children := toWire(&cmd.Spec, *next)
		size := sizeOf(wire)
		if !resuming && fits(size) {
			x.add(m, cmd, wire, children, false, next)
			used += size
			sentAny = true
			if cmd.Purpose == PurposeUnenroll {
				// Windows answers Unenroll with no status: once it is on
				// the wire the device is gone; nothing may follow it.
				x.finish(cmd, 0, "delivered; Windows sends no status for Unenroll")
				x.leave(lifecycle.AdminUnenrollDelivered())
				return false
			}
			continue
		}
		if chunkable(wire) && (resuming || !sentAny) {
			offset := 0
			if resuming {
				offset = x.sess.Outgoing.Offset
			}
			chunk, end := chunkOf(wire, offset, limit-used)
			if chunk == nil && !sentAny && x.neverFits(m, wire, offset, limit) {
				// Not even in a message of nothing else: waiting for the
				// next message would loop forever.
				if resuming {
					x.sess.Outgoing = nil
				}
				x.finish(cmd, syncml.StatusEntityTooLarge, "the device's MaxMsgSize leaves no room for a chunk of it")
				continue
			}
			if chunk == nil {
				return true // not even one chunk fits: next message
			}
			last := end == len(wire.Items[0].Data)
			x.add(m, cmd, chunk, nil, !last, next)
			if !last {
				x.sess.Outgoing = &store.Chunking{CommandID: cmd.ID, Offset: end}
				return true // the device answers 213 and asks for the next chunk
			}
			x.sess.Outgoing = nil
			used += sizeOf(chunk)
			sentAny = true
			continue
		}
		if !sentAny {
			// Too large and not splittable: sent whole, it cannot get smaller.
			x.report.Notes = append(x.report.Notes, cmd.ID+" exceeds the device's MaxMsgSize and cannot be split")
			x.add(m, cmd, wire, children, false, next)
			used += size
			sentAny = true
			continue
		}
		return true
	}
	return false
}

// neverFits reports whether no chunk of wire from offset fits in the
// least reply this session can carry: the Status for the device's SyncHdr
// and the one for its Alert 1222 asking for the next message (with room
// for longer message IDs), as dispatch measures it.
func (x *exchange) neverFits(m *syncml.Message, wire *syncml.Command, offset, limit int) bool {
	const idGrowth = 16
	bare := *m
	// Later replies' SyncHdr status is a plain 200: no 212 with a challenge.
	hdr := *m.Commands[0]
	hdr.Data, hdr.Chal = syncml.StatusOK.String(), nil
	bare.Commands = []*syncml.Command{&hdr, {
		Name: syncml.CmdStatus, CmdID: "2", MsgRef: m.Header.MsgID, CmdRef: "2", Cmd: syncml.CmdAlert, Data: syncml.StatusOK.String(),
	}}
	bare.Final = true
	room := limit - len(syncml.Marshal(&bare)) - len("<Final/>") - idGrowth
	chunk, _ := chunkOf(wire, offset, room)
	return chunk == nil
}

// add puts a command on the wire: into the message, into the session's map
// of CmdIDs, and into the sent state.
func (x *exchange) add(m *syncml.Message, cmd *store.Command, wire *syncml.Command, children map[string]int, chunk bool, next *int) {
	msgID := m.Header.MsgID
	m.Commands = append(m.Commands, wire)
	x.sess.Sent[store.SentKey{MsgID: msgID, CmdID: wire.CmdID}] = store.SentRef{CommandID: cmd.ID, Child: -1, Chunk: chunk}
	for id, idx := range children {
		x.sess.Sent[store.SentKey{MsgID: msgID, CmdID: id}] = store.SentRef{CommandID: cmd.ID, Child: idx}
	}
	*next += 1 + len(children)
	if cmd.State == store.CommandQueued {
		cmd.State = store.CommandSent
		cmd.SentAt = x.now
		cmd.Attempts++
		x.queueDirty = true
	}
	x.report.Sent = append(x.report.Sent, cmd.ID+"="+msgID+":"+wire.CmdID)
	if trace.SensitiveSpec(&cmd.Spec) {
		// trace.SyncML redacts every item under it, nested commands included.
		x.report.Sensitive.Reply = append(x.report.Sensitive.Reply, wire.CmdID)
	}
}

// chunkable reports whether a command can be sent as a large object: a
// single item with data.
func chunkable(c *syncml.Command) bool {
	return !c.IsContainer() && len(c.Items) == 1 && len(c.Items[0].Data) > 0 && !c.Items[0].DataXML
}

// chunkOf returns the chunk of c's item data starting at offset that fits
// in room bytes once marshaled, and where it ends; nil if none fits. The
// first chunk announces the total size; all but the last carry MoreData.
func chunkOf(c *syncml.Command, offset, room int) (*syncml.Command, int) {
	data := c.Items[0].Data
	build := func(end int) *syncml.Command {
		it := *c.Items[0]
		it.Data = data[offset:end]
		it.MoreData = end < len(data)
		if offset == 0 {
			meta := syncml.Meta{}
			if it.Meta != nil {
				meta = *it.Meta
			}
			meta.Size = strconv.Itoa(len(data))
			it.Meta = &meta
		}
		cc := *c
		cc.Items = []*syncml.Item{&it}
		return &cc
	}
	end := len(data)
	for end > offset {
		for end < len(data) && end > offset && !utf8.RuneStart(data[end]) {
			end-- // never split a character
		}
		chunk := build(end)
		over := syncml.Size(chunk) - room
		if over <= 0 {
			return chunk, end
		}
		end -= over
		if end < offset {
			end = offset
		}
	}
	return nil, offset
}

// objectSize is the largest item data of a command spec.
func objectSize(spec *store.CommandSpec) int {
	n := 0
	for _, it := range spec.Items {
		n = max(n, len(it.Data))
	}
	for i := range spec.Commands {
		n = max(n, objectSize(&spec.Commands[i]))
	}
	return n
}

// finish records the device's final status for a command.
func (x *exchange) finish(cmd *store.Command, code syncml.Status, reason string) {
	cmd.Status = int(code)
	cmd.State = store.CommandAcknowledged
	cmd.Reason = reason
	cmd.DoneAt = x.now
	x.finished[cmd.ID] = cmd
	x.queueDirty = true
	x.report.Acknowledged = append(x.report.Acknowledged, cmd.ID+"="+code.String())
}

// pending returns a queued or sent command by ID.
func (x *exchange) pending(id string) *store.Command {
	for _, c := range x.queue.Commands {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// command finds a command the device refers to: pending, finished in this
// message, or finished earlier (results can follow a status).
func (x *exchange) command(id string) *store.Command {
	if c := x.finished[id]; c != nil {
		return c
	}
	if c := x.pending(id); c != nil {
		return c
	}
	if c := x.archived[id]; c != nil {
		return c
	}
	c, err := x.s.Store.FinishedCommand(x.ctx, x.dev.DeviceID, id)
	if err != nil {
		return nil
	}
	if x.archived == nil {
		x.archived = map[string]*store.Command{}
	}
	x.archived[id] = c
	return c
}

// touch marks a command changed.
func (x *exchange) touch(cmd *store.Command) {
	if x.finished[cmd.ID] == nil && x.pending(cmd.ID) != nil {
		x.queueDirty = true
	} else if x.archived[cmd.ID] != nil {
		x.archivedDirty = true
	}
}

// save persists the exchange. Finished commands are written before the
// queue that drops them, so a crash in between loses nothing, and the
// device's next session drops from the queue what is finished already
// (repairQueue) rather than send it again.
func (x *exchange) save(ctx context.Context) error {
	st := x.s.Store
	id := x.dev.DeviceID
	for _, c := range x.finished {
		if err := st.PutCommand(ctx, c); err != nil {
			return err
		}
	}
	if x.archivedDirty {
		for _, c := range x.archived {
			if err := st.PutCommand(ctx, c); err != nil {
				return err
			}
		}
	}
	if x.queueDirty {
		kept := x.queue.Commands[:0]
		for _, c := range x.queue.Commands {
			if x.finished[c.ID] == nil {
				kept = append(kept, c)
			}
		}
		x.queue.Commands = kept
		if err := st.PutQueue(ctx, id, x.queue); err != nil {
			return err
		}
	}
	if len(x.finished) > 0 {
		x.pruneFinished(ctx)
	}
	if x.invDirty {
		if err := st.PutInventory(ctx, id, x.inv); err != nil {
			return err
		}
	}
	if x.devDirty {
		if err := st.PutDevice(ctx, x.dev); err != nil {
			return err
		}
	}
	if x.sessionEnds() {
		x.sess.Ended = true
		endToken(x.sess)
	}
	if x.quietEnd() {
		x.s.idle.put(id, x.sess)
		return nil
	}
	x.s.idle.drop(id)
	x.sessions.Put(x.sess, x.now, x.s.SessionIdle)
	return st.PutDeviceSessions(ctx, id, x.sessions)
}

func decodeNonce(b64 string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(b64)
}
