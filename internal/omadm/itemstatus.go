package omadm

import (
	"strconv"

	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// refusals are the items of one device command refused one by one (an
// inventory bound), and why, for a log line that stays one line however
// many items a command holds.
type refusals struct {
	codes map[*syncml.Item]syncml.Status
	first error
}

func (r *refusals) add(it *syncml.Item, code syncml.Status, err error) {
	if r.codes == nil {
		r.codes = map[*syncml.Item]syncml.Status{}
		r.first = err
	}
	r.codes[it] = code
}

// statusItems answers a device command whose items may have been refused
// one by one: with no refusal, one Status carrying code, as before; else
// (OMA DM 1.2 §6.6.9: a Status may name the items it is about) one Status
// with code naming the accepted items by SourceRef or TargetRef, and one
// per refusal code naming the refused ones. The refusal is logged.
func (x *exchange) statusItems(c *syncml.Command, code syncml.Status, r *refusals) {
	if len(r.codes) == 0 {
		x.status(c, code)
		return
	}
	x.report.Notes = append(x.report.Notes, c.Name+" "+c.CmdID+": "+strconv.Itoa(len(r.codes))+" of "+
		strconv.Itoa(len(c.Items))+" items refused, not kept ("+r.first.Error()+")")
	if c.NoResp {
		return
	}
	var order []syncml.Status
	byCode := map[syncml.Status]*syncml.Command{}
	for _, it := range c.Items {
		k, refused := r.codes[it]
		if !refused {
			k = code
		}
		st := byCode[k]
		if st == nil {
			st = &syncml.Command{Name: syncml.CmdStatus, MsgRef: x.msg.Header.MsgID, CmdRef: c.CmdID, Cmd: c.Name, Data: k.String()}
			byCode[k] = st
			order = append(order, k)
		}
		switch {
		case it.Source != "":
			st.SourceRef = append(st.SourceRef, it.Source)
		case it.Target != "":
			st.TargetRef = append(st.TargetRef, it.Target)
		}
	}
	for _, k := range order {
		x.statuses = append(x.statuses, byCode[k])
	}
}
