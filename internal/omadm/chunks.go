package omadm

import (
	"strconv"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// receiveChunk handles an item that may be part of a large object the
// device sends in several messages (MoreData). It returns 0 when the item is
// complete (its Data then holds the whole object), 213 when more is to come,
// or the error status for the command.
func (x *exchange) receiveChunk(c *syncml.Command, it *syncml.Item, msgRef string) syncml.Status {
	in := x.sess.Incoming
	if in == nil && !it.MoreData {
		return 0
	}
	source := it.Source
	if source == "" {
		source = it.Target
	}
	if in == nil {
		m := syncml.ItemMeta(c, it)
		in = &store.Incoming{Cmd: c.Name, MsgRef: msgRef, CmdRef: c.CmdRef, Source: source,
			Size: atoi(m.Size), Format: m.Format, Type: m.Type}
		if in.Size > x.s.MaxObjectSize {
			x.report.Notes = append(x.report.Notes, "large object of "+strconv.Itoa(in.Size)+" bytes refused")
			return syncml.StatusEntityTooLarge
		}
	} else if in.Source != source || in.Cmd != c.Name {
		// A new object while another was unfinished: the first is incomplete.
		x.sess.Incoming = nil
		x.report.Notes = append(x.report.Notes, "large object "+in.Source+" abandoned unfinished")
		return syncml.StatusIncompleteCommand
	}
	in.Data += it.Data
	if len(in.Data) > x.s.MaxObjectSize {
		x.sess.Incoming = nil
		return syncml.StatusEntityTooLarge
	}
	if it.MoreData {
		x.sess.Incoming = in
		x.askMore = true
		return syncml.StatusChunkAccepted
	}
	x.sess.Incoming = nil
	if in.Size > 0 && len(in.Data) != in.Size {
		return syncml.StatusSizeMismatch
	}
	it.Data = in.Data
	if it.Meta == nil {
		it.Meta = &syncml.Meta{Format: in.Format, Type: in.Type}
	}
	return 0
}
