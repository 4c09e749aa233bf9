package emulator

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// Failing nodes: a real device refuses some settings (405 for a policy the
// edition does not allow, 404 for a CSP it lacks, 500 for a Delete of a
// setting that cannot be removed). Options.FailURIs makes the emulated
// device answer such codes for chosen LocURIs, so tests and admins can see
// how the server reports them.

// ParseFailURI reads a --fail-uri value: [VERB:]./URI=CODE, CODE a status
// of 300 to 599; with a verb (Delete:./...) only that command fails.
func ParseFailURI(v string) (string, int, error) {
	uri, code, ok := strings.Cut(v, "=")
	n, err := strconv.Atoi(code)
	path := uri
	if verb, rest, found := strings.Cut(uri, ":"); found && !strings.HasPrefix(uri, "./") {
		path = rest
		if verb == "" {
			ok = false
		}
	}
	if !ok || !strings.HasPrefix(path, "./") || err != nil || n < 300 || n > 599 {
		return "", 0, fmt.Errorf("--fail-uri %q: want [VERB:]./LocURI=CODE with CODE 300 to 599", v)
	}
	return uri, n, nil
}

// failCode is the status the device answers for a command on a failing
// node (0: none fails).
func (s *session) failCode(c *syncml.Command) int {
	for _, it := range c.Items {
		if code, ok := s.o.FailURIs[it.Target]; ok {
			return code
		}
		if code, ok := s.o.FailURIs[c.Name+":"+it.Target]; ok {
			return code
		}
	}
	return 0
}

// refuse answers a command on a failing node, leaving the tree unchanged.
func (s *session) refuse(msgRef string, c *syncml.Command, code int) []*syncml.Command {
	s.res.Executed = append(s.res.Executed, fmt.Sprintf("%s %s refused with %d", c.Name, targets(c), code))
	return []*syncml.Command{s.status(msgRef, c, code)}
}

// atomicOutcome applies Atomic's all-or-nothing rule as Windows does: when
// a command inside fails, the tree is restored, the Atomic answers 507 and
// the commands that had succeeded answer 216 (rolled back).
func (s *session) atomicOutcome(statuses []*syncml.Command, code int, before map[string]string) int {
	failed := false
	for _, st := range statuses {
		if n, _ := strconv.Atoi(st.Data); n >= 300 {
			failed = true
		}
	}
	if !failed {
		return code
	}
	for _, st := range statuses {
		if n, _ := strconv.Atoi(st.Data); n < 300 {
			st.Data = "216"
		}
	}
	for k := range s.dev.Nodes {
		delete(s.dev.Nodes, k)
	}
	for k, v := range before {
		s.dev.Nodes[k] = v
	}
	return int(syncml.StatusAtomicFailed)
}
