package emulator

import (
	"maps"
	"strconv"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// execute carries out the server's commands as a Windows device does and
// returns the statuses and results to send; done is true when the message
// held no command.
func (s *session) execute(m *syncml.Message) (out []*syncml.Command, done bool) {
	done = true
	for _, c := range m.Commands {
		switch c.Name {
		case syncml.CmdStatus, syncml.CmdResults:
			continue
		case syncml.CmdAlert:
			// Alert 1222 from the server: it wants our next message.
			continue
		}
		done = false
		if c.Name == syncml.CmdExec && len(c.Items) > 0 && strings.HasSuffix(c.Items[0].Target, "/Unenroll") &&
			strings.Contains(c.Items[0].Target, "/DMClient/Provider/") {
			// Windows unenrolls at once and sends nothing more.
			s.dev.Unenrolled = true
			s.res.Unenrolled = true
			s.res.Executed = append(s.res.Executed, "Exec "+c.Items[0].Target)
			return nil, false
		}
		out = append(out, s.run(m.Header.MsgID, c)...)
	}
	return out, done
}

func (s *session) status(msgRef string, c *syncml.Command, code int) *syncml.Command {
	return &syncml.Command{Name: syncml.CmdStatus, MsgRef: msgRef, CmdRef: c.CmdID, Cmd: c.Name, Data: strconv.Itoa(code)}
}

// run executes one command (Atomic and Sequence recursively).
func (s *session) run(msgRef string, c *syncml.Command) []*syncml.Command {
	nodes := s.dev.Nodes
	switch c.Name {
	case syncml.CmdAtomic, syncml.CmdSequence:
		var out []*syncml.Command
		code := 200
		before := maps.Clone(nodes)
		for _, cc := range c.Children {
			if c.Name == syncml.CmdAtomic && cc.Name == syncml.CmdGet {
				code = 400 // no Get inside Atomic
			}
			sub := s.run(msgRef, cc)
			out = append(out, sub...)
		}
		if c.Name == syncml.CmdAtomic {
			code = s.atomicOutcome(out, code, before) // failuris.go
		}
		return append([]*syncml.Command{s.status(msgRef, c, code)}, out...)
	case syncml.CmdGet:
		var out []*syncml.Command
		results := &syncml.Command{Name: syncml.CmdResults, MsgRef: msgRef, CmdRef: c.CmdID}
		code := 200
		for _, it := range c.Items {
			v, ok := nodes[it.Target]
			if !ok {
				code = 404
				continue
			}
			results.Items = append(results.Items, &syncml.Item{Source: it.Target, Data: v, HasData: true})
		}
		out = append(out, s.status(msgRef, c, code))
		if len(results.Items) > 0 {
			out = append(out, results)
		}
		s.res.Executed = append(s.res.Executed, "Get "+targets(c))
		return out
	case syncml.CmdReplace, syncml.CmdAdd, syncml.CmdExec:
		if fail := s.failCode(c); fail != 0 {
			return s.refuse(msgRef, c, fail)
		}
		code := 200
		for _, it := range c.Items {
			if it.MoreData {
				if s.incoming == nil {
					s.incoming = map[string]string{}
				}
				s.incoming[it.Target] += it.Data
				code = 213
				continue
			}
			data := it.Data
			if part, ok := s.incoming[it.Target]; ok {
				data = part + data
				delete(s.incoming, it.Target)
			}
			if c.Name != syncml.CmdExec {
				nodes[it.Target] = data
			}
		}
		if code == 200 {
			s.res.Executed = append(s.res.Executed, c.Name+" "+targets(c))
		}
		return []*syncml.Command{s.status(msgRef, c, code)}
	case syncml.CmdDelete:
		if fail := s.failCode(c); fail != 0 {
			return s.refuse(msgRef, c, fail)
		}
		code := 200
		for _, it := range c.Items {
			if _, ok := nodes[it.Target]; !ok {
				code = 404
			}
			delete(nodes, it.Target)
		}
		s.res.Executed = append(s.res.Executed, "Delete "+targets(c))
		return []*syncml.Command{s.status(msgRef, c, code)}
	}
	return []*syncml.Command{s.status(msgRef, c, 406)}
}

func targets(c *syncml.Command) string {
	t := make([]string, len(c.Items))
	for i, it := range c.Items {
		t[i] = it.Target
	}
	return strings.Join(t, " ")
}
