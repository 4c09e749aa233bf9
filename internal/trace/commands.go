package trace

import "github.com/caddy-mdm/caddy-mdm/internal/store"

// SensitiveSpec reports whether a command, or any command inside it, is
// marked sensitive: its item data, and the results the device returns for
// it, are secret.
func SensitiveSpec(spec *store.CommandSpec) bool {
	if spec.Sensitive {
		return true
	}
	for i := range spec.Commands {
		if SensitiveSpec(&spec.Commands[i]) {
			return true
		}
	}
	return false
}

// Command returns a copy of c fit to show (admin API, CLI): the item data
// of sensitive commands (and of their nested commands) and of items whose
// target is a SecretURI is REDACTED, and so are the results of a command
// with a sensitive part and results whose source is a SecretURI. The
// stored command keeps its data: it must be delivered.
func Command(c *store.Command) *store.Command {
	if c == nil {
		return nil
	}
	out := *c
	out.Spec = redactSpec(c.Spec, false)
	if len(c.Results) > 0 {
		hide := SensitiveSpec(&c.Spec)
		out.Results = make([]store.Result, len(c.Results))
		for i, r := range c.Results {
			if r.Data != "" && (hide || SecretURI(r.Source)) {
				r.Data = Redacted
			}
			out.Results[i] = r
		}
	}
	return &out
}

// Commands applies Command to each command.
func Commands(cmds []*store.Command) []*store.Command {
	out := make([]*store.Command, len(cmds))
	for i, c := range cmds {
		out[i] = Command(c)
	}
	return out
}

func redactSpec(s store.CommandSpec, hide bool) store.CommandSpec {
	hide = hide || s.Sensitive
	if len(s.Items) > 0 {
		items := make([]store.ItemSpec, len(s.Items))
		for i, it := range s.Items {
			if it.Data != "" && (hide || SecretURI(it.Target)) {
				it.Data = Redacted
			}
			items[i] = it
		}
		s.Items = items
	}
	if len(s.Commands) > 0 {
		cmds := make([]store.CommandSpec, len(s.Commands))
		for i := range s.Commands {
			cmds[i] = redactSpec(s.Commands[i], hide)
		}
		s.Commands = cmds
	}
	return s
}

// Inventory returns inv with the values of nodes whose LocURI is a
// SecretURI REDACTED (a device may report them in a Replace or Alert), and
// Entra user token events redacted (see userTokenEvents).
func Inventory(inv store.Inventory) store.Inventory {
	inv.Events = userTokenEvents(inv.Events)
	var nodes map[string]string
	for uri, v := range inv.Nodes {
		if v != "" && SecretURI(uri) {
			if nodes == nil {
				nodes = make(map[string]string, len(inv.Nodes))
				for k, v := range inv.Nodes {
					nodes[k] = v
				}
			}
			nodes[uri] = Redacted
		}
	}
	if nodes != nil {
		inv.Nodes = nodes
	}
	return inv
}
